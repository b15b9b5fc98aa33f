import pandas as pd
import streamlit as st

from core.accounts import ALIAS_ROLE, AccountAliasError, add_alias, known_accounts, list_aliases, remove_alias
from core.auth import can
from core.domain.accounts import resolve_account_key
from ui import MOMENT, account, get_store

NO_ACCOUNT = "(no account)"
me = account()
store = get_store()
st.title("Accounts")
st.caption("Records are compared by account key: upper case, without spaces, dashes, dots or slashes, a currency code after "
           "a number dropped, an IBAN kept whole. An alias makes one key stand for another. The text as imported is what the "
           "other pages show.")
if "accounts_flash" in st.session_state:
    st.success(st.session_state.pop("accounts_flash"))

found = known_accounts(store)
st.subheader("Accounts in the datasets")
if found:
    st.dataframe(pd.DataFrame([{"key": a.key or NO_ACCOUNT, "shown as": a.label or NO_ACCOUNT, "spellings": len(a.spellings),
                                "written": " · ".join(f"{text} ({count:,})" for text, count in sorted(a.spellings.items())),
                                "records": sum(a.spellings.values())} for a in found]),
                 hide_index=True, width="stretch", key="accounts_known")
else:
    st.info("No dataset has been imported yet.")

st.subheader("Aliases")
aliases = list_aliases(store)
if aliases:
    table = {a.alias_key: a.target_key for a in aliases}
    st.dataframe(pd.DataFrame([{"alias": a.alias_key, "is account": a.target_key,
                                "finally compared as": resolve_account_key(a.alias_key, table), "note": a.note, "added by": a.created_by,
                                "added": a.created_at} for a in aliases]),
                 hide_index=True, width="stretch", key="accounts_aliases", column_config={"added": MOMENT})
else:
    st.caption("No alias yet.")

if not can(me, ALIAS_ROLE):
    st.caption(f"Adding or removing an alias needs the {ALIAS_ROLE} role.")
    st.stop()

with st.form("accounts_add"):
    st.markdown("**Add an alias**")
    alias_col, target_col, note_col = st.columns(3)
    alias = alias_col.text_input("Account (any spelling)", key="accounts_new_alias")
    target = target_col.text_input("Is the account", key="accounts_new_target")
    note = note_col.text_input("Why (kept in the audit log)", key="accounts_new_note")
    if st.form_submit_button("Add alias"):
        try:
            added = add_alias(store, alias, target, actor=me, note=note)
            st.session_state["accounts_flash"] = f"{added.alias_key} is now compared as {added.target_key}."
            for field in ("accounts_new_alias", "accounts_new_target", "accounts_new_note"):
                st.session_state.pop(field, None)
            st.rerun()
        except AccountAliasError as exc:
            st.error(str(exc))

if aliases:
    with st.form("accounts_remove"):
        st.markdown("**Remove an alias**")
        chosen = st.selectbox("Alias", [a.alias_key for a in aliases], key="accounts_remove_alias")
        if st.form_submit_button("Remove alias"):
            try:
                remove_alias(store, chosen, actor=me)
                st.session_state["accounts_flash"] = f"{chosen} is its own account again."
                st.rerun()
            except AccountAliasError as exc:
                st.error(str(exc))
