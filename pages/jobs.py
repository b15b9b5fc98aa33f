import json

import pandas as pd
import streamlit as st

from core.auth import can
from core.jobs.pipelines import PipelineError, get_pipeline, save_pipeline, set_paused
from core.jobs.runs import run_now
from core.views.jobs import pipeline_summaries, run_history
from ui import MOMENT, account, download_buttons, flash, get_store, show_flashes

NEW = "(a new pipeline)"
EXAMPLE = """name = "my-pipeline"
description = ""

[schedule]
cron = "0 6 * * 1-5"
timezone = "UTC"

[[steps]]
kind = "fetch"
source = "inbox"
folder = "inbox/bank"

[[steps]]
kind = "import"
"""

me = account()
store = get_store()
editor = can(me, "analyst")
st.title("Jobs")
show_flashes()
st.caption("Pipelines: fetch, import, reconcile, post, export and notify, on a schedule, run by the worker "
           "(`python -m core worker`). Each run and each of its steps is kept, with what it produced.")


def moments(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


pipelines = pipeline_summaries(store)
st.subheader("Pipelines")
if not pipelines:
    st.info("No pipeline yet." + (" Write one in the editor below." if editor else ""))
else:
    grid = moments(pd.DataFrame([{
        "pipeline": p["name"], "schedule": p["schedule_words"], "time zone": p["timezone"] or "",
        "paused": p["paused"], "next run": p["next_run"], "last run": (p["last_run"] or {}).get("id"),
        "last status": (p["last_run"] or {}).get("status", ""), "last duration (s)": (p["last_run"] or {}).get("seconds"),
        "steps": " → ".join(p["steps"]), "version": p["version"], "description": p["description"],
        "updated by": p["updated_by"]} for p in pipelines]), ["next run"])
    st.dataframe(grid, hide_index=True, width="stretch", key="jobs_pipelines", column_config={"next run": MOMENT})
    download_buttons(grid, "pipelines", "jobs_pipelines_download")

if pipelines and editor:
    names = [p["name"] for p in pipelines]
    chosen = st.selectbox("Pipeline", names, key="jobs_pipeline")
    paused = next(p["paused"] for p in pipelines if p["name"] == chosen)
    run_col, pause_col, _ = st.columns([1, 1, 4])
    if run_col.button("Run now", key="jobs_run_now", type="primary"):
        try:
            with st.spinner(f"Running {chosen}…"):
                run = run_now(store, chosen, actor=me.username)
        except PipelineError as exc:
            st.error(str(exc))
        else:
            if run.status == "succeeded":
                flash("success", f"Run {run.id} of {chosen}: succeeded.")
            else:
                flash("error", f"Run {run.id} of {chosen}: {run.status}: {run.error}")
            st.session_state["jobs_run"] = run.id
            st.rerun()
    if pause_col.button("Resume" if paused else "Pause", key="jobs_pause"):
        set_paused(store, chosen, not paused, actor=me.username)
        flash("success", f"{chosen}: {'resumed' if paused else 'paused: no scheduled runs until resumed (Run now still works)'}.")
        st.rerun()

st.subheader("Last runs")
runs = run_history(store, limit=100)
if not runs:
    st.info("No pipeline has run yet.")
else:
    history = moments(pd.DataFrame([{
        "run": r["id"], "pipeline": r["pipeline"], "status": r["status"], "trigger": r["trigger"], "attempt": r["attempt"],
        "scheduled for": r["scheduled_for"], "started": r["started_at"], "finished": r["finished_at"],
        "duration (s)": r["seconds"], "retry after": r["run_after"], "worker": r["worker"], "error": r["error"] or ""} for r in runs]),
        ["scheduled for", "started", "finished", "retry after"])
    st.dataframe(history, hide_index=True, width="stretch", key="jobs_runs",
                 column_config={c: MOMENT for c in ("scheduled for", "started", "finished", "retry after")})
    download_buttons(history, "pipeline_runs", "jobs_runs_download")
    by_id = {r["id"]: r for r in runs}
    if st.session_state.get("jobs_run") not in by_id:
        st.session_state["jobs_run"] = runs[0]["id"]
    run_id = st.selectbox("Run", list(by_id), key="jobs_run",
                          format_func=lambda i: f"run {i} · {by_id[i]['pipeline']} · {by_id[i]['status']}")
    picked = by_id[run_id]
    if picked["error"]:
        st.error(picked["error"])
    st.markdown(f"**Step log of run {run_id}**")
    steps = pd.DataFrame([{"step": s["position"], "kind": s["kind"], "status": s["status"], "message": s["message"],
                           "outputs": json.dumps(s["outputs"], sort_keys=True) if s["outputs"] else ""} for s in picked["steps"]],
                         columns=["step", "kind", "status", "message", "outputs"])
    st.dataframe(steps, hide_index=True, width="stretch", key="jobs_steps")
    download_buttons(steps, f"pipeline_run_{run_id}_steps", "jobs_steps_download")
    produced = {key: values for key, values in (picked["outputs"] or {}).items() if values}
    st.markdown(f"**Outputs of run {run_id}**")
    if produced:
        st.json(produced, expanded=False)
    else:
        st.caption("Nothing produced.")

st.subheader("Definition")
if editor:
    names = [p["name"] for p in pipelines]
    if "jobs_edit_next" in st.session_state:  # the pipeline just saved
        st.session_state["jobs_edit"] = st.session_state.pop("jobs_edit_next")
    target = st.selectbox("Pipeline to edit", [*names, NEW], key="jobs_edit")
    text = EXAMPLE if target == NEW else get_pipeline(store, target).definition
    edited = st.text_area("TOML", value=text, height=420, key=f"jobs_toml_{target}",
                          help="See the README's Pipelines section for every step and setting.")
    if st.button("Save", key="jobs_save"):
        try:
            spec = save_pipeline(store, edited, actor=me.username, source="<page>")
        except PipelineError as exc:
            st.error(str(exc))
        else:
            flash("success", f"{spec.name}: saved.")
            st.session_state["jobs_edit_next"] = spec.name
            st.rerun()
elif pipelines:
    shown = st.selectbox("Pipeline", [p["name"] for p in pipelines], key="jobs_show")
    st.code(get_pipeline(store, shown).definition, language="toml")
    st.caption("Editing, running and pausing pipelines needs the analyst role.")
