import streamlit as st

from core.ingest.datasets import existing_dataset, import_bytes, parse_source
from core.ingest.profiles import ProfileError, list_layouts, list_profiles, load_profile, save_profile_text
from ui import get_store, require, show_row_errors

me = require("analyst")
store = get_store()
st.title("Sources")

own = list_profiles()
# Shipped layouts of known banks, unless a profile of the same name replaces one.
profiles = own + [p for p in list_layouts() if p.name not in {o.name for o in own}]
choice = st.selectbox("Mapping profile (automatic: a known bank layout is recognised from the header)", ["automatic"] + [p.name for p in profiles],
                      key="sources_profile",
                      format_func=lambda n: n if n == "automatic" else f"{n}: {next(p.description for p in profiles if p.name == n)}")
with st.expander("Create or edit a profile"):
    template = next(p.path for p in profiles if p.name == choice).read_text(encoding="utf-8") if choice != "automatic" else \
        '[columns]\ndate = "Value Date"\namount = "Amount"\n\n[defaults]\ncurrency = "USD"\n'
    with st.form("sources_profile_form"):
        name = st.text_input("Profile name", value="" if choice == "automatic" else choice, key="sources_profile_name")
        text = st.text_area("Profile (TOML; see the README for every key)", value=template, height=280, key=f"sources_profile_text_{choice}")
        if st.form_submit_button("Save profile"):
            try:
                save_profile_text(name, text)
                st.success(f"Profile {name!r} saved.")
            except ProfileError as exc:
                st.error(str(exc))

upload = st.file_uploader("Statement or ledger file (CSV, XLSX; the format is read from the content)", key="sources_upload")
if upload is None:
    st.info("Choose a file to preview its canonical rows.")
    st.stop()

data = upload.getvalue()
already = existing_dataset(store, data)
if already is not None:
    st.info(f"This file is already imported as dataset {already.name!r} ({already.row_count} rows) on {already.created_at:%Y-%m-%d %H:%M}.")
try:
    profile = None if choice == "automatic" else load_profile(choice)
except ProfileError as exc:
    st.error(str(exc))
    st.stop()
result, errors = parse_source(data, upload.name, profile)
if errors:
    show_row_errors(errors)
    st.stop()
for warning in result.warnings:
    st.warning(warning)
st.caption(f"{result.table.num_rows:,} rows · " + (f"read as {result.profile} · " if result.profile else "")
           + (f"header on row {result.header_row} · " if result.header_row else "no header row · ")
           + ", ".join(f"{k} ← {v}" for k, v in result.column_map.items()))
st.dataframe(result.table.slice(0, 500).to_pandas(), hide_index=True, width="stretch", key="sources_preview")
if already is None and st.button("Save dataset", type="primary", key="sources_save"):
    outcome, errors = import_bytes(store, data, upload.name, profile, user=me.username)
    if errors:
        show_row_errors(errors)
    else:
        st.success(f"Saved as dataset {outcome.dataset.id[:12]} ({outcome.dataset.row_count:,} rows).")
