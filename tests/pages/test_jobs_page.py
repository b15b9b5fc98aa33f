"""The Jobs page through AppTest on the demo month: a viewer reads the pipelines, runs and a
definition but changes nothing; an analyst runs the demo pipeline now (and again, finding
nothing new), pauses and resumes it, and saves a bad and a good TOML. The Overview shows a
pipeline whose last run failed."""

from sqlalchemy import func, select

from core.demo import DEMO_PIPELINE
from core.jobs.pipelines import get_pipeline
from core.store.models import PipelineRun, Run
from tests.pages.app import frame_with, on_page, signed_in

EDITOR = f"jobs_toml_{DEMO_PIPELINE}"


def buttons(at) -> set[str]:
    return {b.label for b in at.button}


def test_viewer_reads_the_pipelines_and_a_definition_but_cannot_run_pause_or_edit(demo):
    at = on_page("viewer", "pages/jobs.py")
    grid = frame_with(at, "pipeline")
    expected = {"pipeline": DEMO_PIPELINE, "schedule": "every day at 07:30", "time zone": "America/New_York", "paused": False,
                "last status": "", "steps": "fetch → import → reconcile → notify", "version": 1}
    assert {column: grid[column][0] for column in expected} == expected
    assert grid["next run"].notna().all()
    assert not {"Run now", "Pause", "Resume", "Save"} & buttons(at)
    assert not at.text_area
    assert 'name = "demo-daily-bank"' in at.code[0].value
    assert any("needs the analyst role" in c.value for c in at.caption)
    assert any("No pipeline has run yet" in i.value for i in at.info)


def test_analyst_runs_the_demo_pipeline_now_and_again_finding_nothing_new(demo):
    at = on_page("analyst", "pages/jobs.py")
    at.button(key="jobs_run_now").click().run()
    assert not at.exception, at.exception
    with demo.session() as session:
        first = session.scalar(select(func.max(PipelineRun.id)))
        assert session.scalar(select(func.count(Run.id))) == 5, "the demo's four runs and the pipeline's"
    assert [s.value for s in at.success] == [f"Run {first} of {DEMO_PIPELINE}: succeeded."]
    assert at.selectbox(key="jobs_run").value == first
    steps = frame_with(at, "message")
    assert list(steps["kind"]) == ["fetch", "import", "reconcile", "notify"]
    assert list(steps["status"]) == ["succeeded", "succeeded", "succeeded", "skipped"]
    assert "1 new file" in steps["message"][0] and steps["message"][2].startswith("run 5:")

    at.button(key="jobs_run_now").click().run()
    second = first + 1
    assert [s.value for s in at.success] == [f"Run {second} of {DEMO_PIPELINE}: succeeded."]
    assert "nothing new" in frame_with(at, "message")["message"][0]
    runs = frame_with(at, "trigger")
    assert list(runs["run"]) == [second, first] and set(runs["status"]) == {"succeeded"}
    assert frame_with(at, "pipeline")["last run"][0] == second
    # A run is picked by its id: the first run's step log, whatever the grid's order.
    at.selectbox(key="jobs_run").set_value(first).run()
    assert frame_with(at, "message")["message"][2].startswith("run 5:")
    assert not at.error


def test_analyst_pauses_and_resumes_a_pipeline(demo):
    at = on_page("analyst", "pages/jobs.py")
    at.button(key="jobs_pause").click().run()
    assert get_pipeline(demo, DEMO_PIPELINE).paused
    grid = frame_with(at, "pipeline")
    assert bool(grid["paused"][0]) and grid["next run"].isna().all()
    assert at.button(key="jobs_pause").label == "Resume"
    at.button(key="jobs_pause").click().run()
    stored = get_pipeline(demo, DEMO_PIPELINE)
    assert not stored.paused and stored.version == 3
    assert at.button(key="jobs_pause").label == "Pause"


def test_a_bad_toml_says_why_in_one_line_and_saves_nothing_a_good_one_is_saved(demo):
    at = on_page("analyst", "pages/jobs.py")
    before = get_pipeline(demo, DEMO_PIPELINE)
    at.text_area(key=EDITOR).input(before.definition.replace('cron = "30 7 * * *"', 'cron = "30 7 * *"')).run()
    at.button(key="jobs_save").click().run()
    [error] = at.error
    assert "<page>: pipeline demo-daily-bank:" in error.value and "five-field" in error.value and "\n" not in error.value
    assert get_pipeline(demo, DEMO_PIPELINE) == before

    at.text_area(key=EDITOR).input(before.definition.replace('cron = "30 7 * * *"', 'cron = "0 6 * * 1-5"')).run()
    at.button(key="jobs_save").click().run()
    assert not at.error
    after = get_pipeline(demo, DEMO_PIPELINE)
    assert after.version == before.version + 1 and after.spec.schedule.cron == "0 6 * * 1-5"
    assert frame_with(at, "pipeline")["schedule"][0] == "Monday to Friday at 06:00"


def test_analyst_writes_a_new_pipeline(demo):
    at = on_page("analyst", "pages/jobs.py")
    at.selectbox(key="jobs_edit").select("(a new pipeline)").run()
    at.text_area(key="jobs_toml_(a new pipeline)").input('name = "by-hand"\n[[steps]]\nkind = "notify"\nalert = true\n').run()
    at.button(key="jobs_save").click().run()
    assert not at.exception and not at.error
    assert get_pipeline(demo, "by-hand").spec.schedule is None
    grid = frame_with(at, "pipeline")
    assert list(grid["pipeline"]) == ["by-hand", DEMO_PIPELINE] and grid["schedule"][0] == "by hand"
    assert at.selectbox(key="jobs_edit").value == "by-hand"


def test_overview_shows_a_failing_pipeline_with_a_pointer_to_the_jobs_page(demo):
    from core.jobs.pipelines import save_pipeline
    from core.jobs.runs import run_now

    at = signed_in("viewer")
    assert not [d for d in at.dataframe if "Pipeline" in d.value.columns]
    save_pipeline(demo, 'name = "lost-inbox"\n[retry]\nmax_attempts = 1\n[[steps]]\nkind = "fetch"\nsource = "inbox"\nfolder = "nowhere"\n',
                  actor="analyst")
    failed = run_now(demo, "lost-inbox", actor="analyst")
    assert failed.status == "failed"
    run_now(demo, DEMO_PIPELINE, actor="analyst")  # succeeds: not failing
    at = signed_in("viewer")
    failing = frame_with(at, "Pipeline")
    assert list(failing["Pipeline"]) == ["lost-inbox"] and list(failing["Run"]) == [failed.id]
    assert "no such folder" in failing["Error"][0]
    assert any("lost-inbox" in e.value for e in at.error)
    assert [link.proto.page for link in at.get("page_link") if "Jobs page" in link.proto.label]
