"""Recon Workbench: sign-in, then the pages the signed-in role may use."""

import streamlit as st

from core.auth import SignInLocked, authenticate, can, demo_passwords_in_use, reload_account
from core.demo import DEMO_USERS
from core.webhooks import hand_over as hand_over_webhooks
from ui import FAVICON, account, client_address, demo_mode, get_store, sign_out

st.set_page_config(page_title="Recon Workbench", page_icon=FAVICON, layout="wide")
store = get_store()


@st.cache_data(ttl=60, show_spinner=False)
def demo_passwords_present() -> list[str]:
    return demo_passwords_in_use(get_store(), DEMO_USERS)


if not demo_mode() and demo_passwords_present():
    st.error("Some users still have the published demo passwords "
             f"({', '.join(demo_passwords_present())}). Change or disable them, or start in demo mode (RECON_DEMO=1).")
    st.stop()


def sign_in() -> None:
    st.title("Recon Workbench")
    if notice := st.session_state.pop("sign_in_notice", None):
        st.warning(notice)
    with st.form("sign_in"):
        username = st.text_input("Username", key="sign_in_username")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        try:
            # Failed sign-ins are counted per username and per client address too.
            found = authenticate(store, username, password, client=client_address())
        except SignInLocked as exc:
            st.error(str(exc))
            return
        if found is None:
            st.error("Wrong username or password, or the account is disabled.")
        else:
            st.session_state["account"] = found
            st.rerun()
    if demo_mode():
        st.info("Demo: sign in as viewer, analyst, analyst2, approver or admin; passwords are in the README.")


current = account()
if current is not None:
    # Every page load re-reads the account: a disabled user is signed out, a new role applies now.
    fresh = reload_account(store, current)
    if fresh is None:
        sign_out()
        st.session_state["sign_in_notice"] = "You were signed out: your account was disabled or changed. Sign in again."
    else:
        st.session_state["account"] = fresh
    current = fresh
if current is None:
    st.navigation([st.Page(sign_in, title="Sign in", icon=":material/login:")]).run()
    st.stop()

with st.sidebar:
    st.write(f"Signed in as **{current.display_name}** ({current.role})")
    st.button("Sign out", key="sign_out", on_click=sign_out)

# Sections by what the role does: analysts reconcile, everyone reviews and reads the books,
# admins manage users. Every page stays in view: a hidden "View more" hides the banking pages.
reconcile_pages = [st.Page("pages/sources.py", title="Sources", icon=":material/upload_file:"),
                   st.Page("pages/datasets.py", title="Datasets", icon=":material/dataset:"),
                   st.Page("pages/reconcile.py", title="Reconcile", icon=":material/join_inner:"),
                   st.Page("pages/holdings.py", title="Holdings", icon=":material/account_balance:")]
review_pages = [st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
                st.Page("pages/breaks.py", title="Breaks", icon=":material/rule:"),
                st.Page("pages/match.py", title="Match", icon=":material/compare_arrows:"),
                st.Page("pages/approvals.py", title="Approvals", icon=":material/approval:"),
                st.Page("pages/history.py", title="History", icon=":material/history:"),
                st.Page("pages/accounts.py", title="Accounts", icon=":material/account_tree:"),
                st.Page("pages/audit.py", title="Audit log", icon=":material/policy:"),
                st.Page("pages/exports.py", title="Exports", icon=":material/download:"),
                st.Page("pages/jobs.py", title="Jobs", icon=":material/schedule:")]
banking_pages = [st.Page("pages/bank_reconciliation.py", title="Bank reconciliation",
                         icon=":material/account_balance_wallet:"),
                 st.Page("pages/cash_position.py", title="Cash position", icon=":material/savings:"),
                 st.Page("pages/variance.py", title="Variance", icon=":material/monitoring:"),
                 st.Page("pages/ledger.py", title="Ledger", icon=":material/menu_book:")]
underwriting_pages = [st.Page("pages/applications.py", title="Applications", icon=":material/request_quote:")]
admin_pages = [st.Page("pages/users.py", title="Users", icon=":material/group:"),
               st.Page("pages/api_keys.py", title="API keys", icon=":material/key:"),
               st.Page("pages/system.py", title="System", icon=":material/monitor_heart:")]
sections = {"Reconcile": reconcile_pages} if can(current, "analyst") else {}
sections["Review"] = review_pages
sections["Banking"] = banking_pages
sections["Underwriting"] = underwriting_pages
if can(current, "admin"):
    sections["Admin"] = admin_pages
# With no worker running, the app sends the webhook events its pages' changes owe, on a thread.
hand_over_webhooks(store)
# Webhooks: admins manage subscribers, analysts read the deliveries; viewers do not see it.
if can(current, "analyst"):
    sections.setdefault("Admin", []).append(st.Page("pages/webhooks.py", title="Webhooks", icon=":material/webhook:"))
st.navigation(sections, expanded=True).run()
