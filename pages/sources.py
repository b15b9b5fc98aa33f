import streamlit as st

from core.ingest.datasets import content_sha256, existing_dataset, import_bytes, parse_source, unbalanced_differences
from core.ingest.profiles import ProfileError, list_layouts, list_profiles, load_profile, save_profile_text
from core.ingest.scans import corrections_from_records, is_doubtful_reading, rows_to_confirm
from core.ingest.statements import is_balance_refusal
from core.review import ReviewError, request_unbalanced_import, waiting_import_request
from ui import flash, get_store, require, show_flashes, show_row_errors

me = require("analyst")
store = get_store()
st.title("Sources")
show_flashes()

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

upload = st.file_uploader("Statement or ledger file (CSV, XLSX, bank statement formats, statement PDFs text or scanned; "
                          "the format is read from the content)", key="sources_upload")
if upload is None:
    st.info("Choose a file to preview its canonical rows.")
    st.stop()

data = upload.getvalue()
digest = content_sha256(data)
already = existing_dataset(store, data)
if already is not None:
    st.info(f"This file is already imported as dataset {already.name!r} ({already.row_count} rows) on {already.created_at:%Y-%m-%d %H:%M}.")
    if already.unbalanced:
        st.warning(f"⚠ Imported although it does not add up, with the difference recorded: {already.unbalanced}")
try:
    profile = None if choice == "automatic" else load_profile(choice)
except ProfileError as exc:
    st.error(str(exc))
    st.stop()


def refused(errors, *, saving: bool) -> None:
    """The refusal; for a balance difference alone, the way to ask an approver to let the file in."""
    show_row_errors(errors, saving=saving)
    if already is not None or not any(is_balance_refusal(e) for e in errors):
        return
    waiting = waiting_import_request(store, data)
    if waiting is not None:
        st.info(f"A request to import this file with the difference recorded waits for an approver (decision {waiting}).")
        return
    differences = unbalanced_differences(store, data, upload.name, profile)
    if not differences:
        return
    with st.form("sources_unbalanced_form"):
        st.markdown("**Ask an approver to import it with the difference recorded**")
        st.caption("Imported this way, the dataset is flagged wherever it is shown: " + "; ".join(differences))
        comment = st.text_area("Why should it be imported as it is? (required)", key="sources_unbalanced_comment")
        if st.form_submit_button("Ask an approver", key="sources_unbalanced_ask"):
            try:
                outcome = request_unbalanced_import(store, me, data, upload.name, profile, comment)
                flash("success", f"Sent for approval (decision {outcome.decision_id}); an approver decides on the Approvals page.")
                st.rerun()
            except ReviewError as exc:
                st.error(str(exc))


def confirm_scanned_rows() -> None:
    """A scanned statement's doubtful rows, to check against the page and confirm or correct."""
    st.warning("This statement was read by OCR and some rows are doubtful: check each against the page, "
               "correct what was misread, then confirm. The statement must then add up.")
    edited = st.data_editor(rows_to_confirm(data, upload.name), hide_index=True, key="sources_confirm_rows",
                            disabled=["row", "page", "line", "confidence", "why"], width="stretch")
    if st.button("Confirm these rows and import", type="primary", key="sources_confirm_import"):
        corrections, errors = corrections_from_records(edited, upload.name)
        if not errors:
            outcome, errors = import_bytes(store, data, upload.name, profile, user=me.username, pdf_corrections=corrections)
        if errors:
            show_row_errors(errors, saving=True)
        else:
            st.success(f"Saved as dataset {outcome.dataset.id[:12]} ({outcome.dataset.row_count:,} rows).")


result, errors = parse_source(data, upload.name, profile)
if errors and already is None and all(is_doubtful_reading(e) for e in errors):
    confirm_scanned_rows()
    st.stop()
if errors:
    if not (already is not None and already.unbalanced and all(is_balance_refusal(e) for e in errors)):
        refused(errors, saving=False)  # a file imported flagged as unbalanced: its difference is shown above already
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
        # Kept for the next runs, so the way forward it offers survives the form's own rerun.
        st.session_state["sources_save_refused"] = (digest, errors)
    else:
        st.session_state.pop("sources_save_refused", None)
        st.success(f"Saved as dataset {outcome.dataset.id[:12]} ({outcome.dataset.row_count:,} rows).")
save_refused = st.session_state.get("sources_save_refused")
if already is None and save_refused is not None and save_refused[0] == digest:
    refused(save_refused[1], saving=True)
