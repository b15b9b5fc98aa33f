import pandas as pd
import streamlit as st

from core.auth import can
from core.webhooks import (EVENTS, WebhookError, hand_over, list_attempts, list_events, list_subscribers, redeliver_event,
                           remove_subscriber, subscribe, update_subscriber)
from ui import MOMENT, flash, get_store, require, show_flashes

me = require("analyst")
store = get_store()
admin = can(me, "admin")
st.title("Webhooks")
st.caption("Other systems told of events as they happen: each event a signed JSON POST (header `Recon-Signature: t=...,v1=...`, "
           "HMAC-SHA256 over `t.body`), tried again with growing waits, every attempt kept. "
           + ("Admins add and change subscribers; analysts read the deliveries." if admin else "Admins manage the subscribers."))
show_flashes()

subscribers = list_subscribers(store)
st.subheader("Subscribers")
if subscribers:
    st.dataframe(pd.DataFrame([{"id": s.id, "url": s.url, "events": ", ".join(s.events), "state": "active" if s.active else "paused",
                                "added by": s.created_by, "added": s.created_at, "changed": s.updated_at} for s in subscribers]),
                 hide_index=True, width="stretch", key="webhooks_subscribers_grid",
                 column_config={"added": MOMENT, "changed": MOMENT})
else:
    st.info("No subscriber yet.")

if admin:
    with st.form("webhooks_add", clear_on_submit=True):
        st.markdown("**Add a subscriber**")
        url = st.text_input("URL", key="webhooks_url", placeholder="https://erp.example.com/hooks/recon")
        secret = st.text_input("Signing secret (at least 16 characters; not shown again)", type="password", key="webhooks_secret")
        events = st.multiselect("Events", EVENTS, key="webhooks_events")
        if st.form_submit_button("Add subscriber"):
            try:
                made = subscribe(store, url, secret, events, actor=me.username)
            except WebhookError as exc:
                st.error(str(exc))
            else:
                flash("success", f"Subscriber {made.id} added: {made.url} takes {', '.join(made.events)}.")
                st.rerun()
    if subscribers:
        st.markdown("**Change or remove a subscriber**")
        picked = st.selectbox("Subscriber", [s.id for s in subscribers], key="webhooks_pick",
                              format_func=lambda i: next(f"{s.id}: {s.url}" for s in subscribers if s.id == i))
        chosen = next(s for s in subscribers if s.id == picked)
        with st.form(f"webhooks_edit_{chosen.id}"):
            new_url = st.text_input("URL", value=chosen.url, key=f"webhooks_edit_url_{chosen.id}")
            new_events = st.multiselect("Events", EVENTS, default=chosen.events, key=f"webhooks_edit_events_{chosen.id}")
            new_active = st.checkbox("Active", value=chosen.active, key=f"webhooks_edit_active_{chosen.id}")
            new_secret = st.text_input("New signing secret (empty keeps the current one)", type="password",
                                       key=f"webhooks_edit_secret_{chosen.id}")
            if st.form_submit_button("Save changes"):
                try:
                    update_subscriber(store, chosen.id, actor=me.username, url=new_url, events=new_events, active=new_active,
                                      secret=new_secret)
                except WebhookError as exc:
                    st.error(str(exc))
                else:
                    flash("success", f"Subscriber {chosen.id} saved.")
                    st.rerun()
        if st.button("Remove subscriber", key="webhooks_remove"):
            remove_subscriber(store, chosen.id, actor=me.username)
            flash("success", f"Subscriber {chosen.id} removed; its logged attempts stay.")
            st.rerun()

st.subheader("Deliveries")
events = list_events(store)
if not events:
    st.info("No event sent yet.")
    st.stop()
st.dataframe(pd.DataFrame(events), hide_index=True, width="stretch", key="webhooks_events_grid",
             column_config={"next attempt": MOMENT, "created": MOMENT, "delivered": MOMENT})
shown = st.selectbox("Event", [e["id"] for e in events], key="webhooks_event_pick",
                     format_func=lambda i: next(f"{e['id']}: {e['event']} to {e['subscriber']} ({e['status']})" for e in events
                                                if e["id"] == i))
attempts = list_attempts(store, shown)
if attempts:
    st.dataframe(pd.DataFrame(attempts), hide_index=True, width="stretch", key="webhooks_attempts_grid", column_config={"sent": MOMENT})
else:
    st.caption("Not tried yet.")
status = next(e["status"] for e in events if e["id"] == shown)
if st.button("Redeliver", key="webhooks_redeliver", disabled=status in ("pending", "sending")):
    try:
        redeliver_event(store, shown, actor=me.username)
    except WebhookError as exc:
        st.error(str(exc))
    else:
        hand_over(store)
        flash("success", f"Event {shown} queued to be sent again.")
        st.rerun()
