"""The Exports page through AppTest on the demo month: an analyst requests an export, it is built
in the background and listed with its rows and size, downloaded, reused when asked again; a
viewer reads the history and statistics but requests nothing."""

import time

from core.exports.requests import list_exports
from tests.pages.app import frame_with, on_page, open_page


def wait_until_done(store, timeout=60):
    deadline = time.monotonic() + timeout
    while any(v.status in ("PENDING", "RUNNING") for v in list_exports(store)) and time.monotonic() < deadline:
        time.sleep(0.2)


def test_analyst_requests_an_export_and_downloads_it_then_asking_again_reuses_it(demo):
    at = on_page("analyst", "pages/exports.py")
    assert any("No export has been requested yet" in i.value for i in at.info)
    at.selectbox(key="exports_kind").select("transactions")
    at.selectbox(key="exports_format").select("csv")
    at.button(key="FormSubmitter:exports_request-Request export").click().run()
    assert not at.exception, at.exception
    assert any("a new export is queued" in s.value for s in at.success)
    wait_until_done(demo)
    open_page(at, "pages/exports.py")
    history = frame_with(at, "requested by")
    assert list(history["status"]) == ["COMPLETED"] and list(history["requested by"]) == ["analyst"]
    [view] = list_exports(demo)
    assert history["rows"][0] == view.row_count > 0
    assert at.selectbox(key="exports_picked").value == view.reference_id
    assert any(view.sha256 in c.value for c in at.caption)
    assert [m.value for m in at.metric][:2] == ["1", "0%"]
    at.button(key="FormSubmitter:exports_request-Request export").click().run()
    assert any("already made" in s.value for s in at.success)
    assert [m.value for m in at.metric][:2] == ["2", "50%"]
    assert len(list_exports(demo)) == 1


def test_a_bad_request_says_why_and_queues_nothing(demo):
    at = on_page("analyst", "pages/exports.py")
    at.text_input(key="exports_destination").input("ftp://elsewhere")
    at.button(key="FormSubmitter:exports_request-Request export").click().run()
    assert any("neither a folder nor s3://" in e.value for e in at.error)
    assert list_exports(demo) == []


def test_viewer_reads_the_history_but_requests_nothing(demo):
    from core.exports.requests import ExportRequest, export_now

    export_now(demo, ExportRequest("breaks", format="xlsx"), actor="analyst")
    at = on_page("viewer", "pages/exports.py")
    assert not [f for f in at.get("form") if getattr(f, "key", None) == "exports_request"]
    assert any("needs the analyst role" in c.value for c in at.caption)
    history = frame_with(at, "requested by")
    assert list(history["kind"]) == ["breaks"] and list(history["status"]) == ["COMPLETED"]


def test_only_an_admin_names_a_folder_on_the_server_and_a_relative_one_is_refused(demo, tmp_path):
    at = on_page("analyst", "pages/exports.py")
    at.text_input(key="exports_destination").input(str(tmp_path / "out"))
    at.button(key="FormSubmitter:exports_request-Request export").click().run()
    assert any("a folder on the server is for an admin" in e.value for e in at.error), [e.value for e in at.error]
    at.text_input(key="exports_destination").input("nowhere")
    at.button(key="FormSubmitter:exports_request-Request export").click().run()
    assert any("'nowhere' is not local, a folder's absolute path" in e.value for e in at.error)
    assert list_exports(demo) == []
    admin = on_page("admin", "pages/exports.py")
    admin.text_input(key="exports_destination").input(str(tmp_path / "out"))
    admin.button(key="FormSubmitter:exports_request-Request export").click().run()
    assert not admin.error and any("a new export is queued" in s.value for s in admin.success)
    [view] = list_exports(demo)
    assert view.request["destination"] == str(tmp_path / "out")


def test_the_picker_names_what_each_export_holds_and_the_charts_count_whole_requests_a_bar_a_day(demo):
    import json

    from core.exports.requests import ExportRequest, export_now

    export_now(demo, ExportRequest("breaks", format="xlsx"), actor="analyst")
    _, view = export_now(demo, ExportRequest("journals"), actor="analyst")
    at = on_page("viewer", "pages/exports.py")
    picker = at.selectbox(key="exports_picked")
    assert picker.value == view.reference_id
    assert picker.format_func(view.reference_id) == (f"journals · csv · {view.row_count:,} rows · "
                                                     f"{view.created_at:%Y-%m-%d %H:%M} UTC by analyst · {view.reference_id}")
    assert [o.split(" · ")[:2] for o in picker.options] == [["journals", "csv"], ["breaks", "xlsx"]]
    what = on_page("analyst", "pages/exports.py").selectbox(key="exports_kind")
    assert what.options[-1] == "bank reconciliation statements (prepared or signed off)"
    [chart] = [c for c in at.get("plotly_chart") if "Requests per day" in c.proto.spec]
    layout = json.loads(chart.proto.spec)["layout"]
    assert layout["xaxis"]["type"] == "category" and layout["yaxis"]["dtick"] == 1 and layout["yaxis"]["tickformat"] == ",d"
    [durations] = [c for c in at.get("plotly_chart") if "Durations of completed exports" in c.proto.spec]
    assert json.loads(durations.proto.spec)["layout"]["yaxis"]["dtick"] == 1


def test_an_export_of_no_row_says_so(demo):
    from core.exports.requests import ExportRequest, export_now

    _, empty = export_now(demo, ExportRequest("transactions", accounts=("NO-SUCH-ACCOUNT",)), actor="analyst")
    at = on_page("viewer", "pages/exports.py")
    assert empty.row_count == 0 and at.selectbox(key="exports_picked").value == empty.reference_id
    assert any(i.value.startswith("This file holds no row") for i in at.info)
    _, full = export_now(demo, ExportRequest("transactions"), actor="analyst")
    open_page(at, "pages/exports.py")
    at.selectbox(key="exports_picked").select(full.reference_id).run()
    assert full.row_count > 0 and any(f"{full.row_count:,} rows." in c.value for c in at.caption)
    assert not any(i.value.startswith("This file holds no row") for i in at.info)
