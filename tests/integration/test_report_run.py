"""A 20,000-event run at 2,000/s on the real stack (broker, ksql server with the project's
migrations: Germany and Munich streams, the per-country, hourly and per-category tables): metric
snapshots, end-to-end latency, the report;
a second run at another rate for `replay report compare`; the page in headless Chromium
(Debian's chromium driven by Playwright), offline, with a screenshot in var/test-artifacts/."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest
from playwright.sync_api import sync_playwright

from replay.cli import main
from replay.dump.generator import generate_dump
from replay.paths import PROJECT_ROOT
from replay.report.document import schema
from replay.stack.broker import KafkaBroker
from replay.stack.ksql import KsqlServer
from tests.integration.ksql_helpers import ksql
from tests.integration.report_helpers import RunResult, run_with_report
from tests.integration.source_topic import own_source_topic

pytestmark = pytest.mark.integration

EVENTS = 20_000
LATE_SINK = "GERMANY_LATE"  # a query created after run C's replay: a catch-up sink


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    var = tmp_path_factory.mktemp("report-var")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPLAY_VAR_DIR", str(var))
        patch.delenv("REPLAY_REPORTS_DIR", raising=False)
        yield var


@pytest.fixture(scope="module")
def runs(var_dir: Path, kafka_broker: KafkaBroker, ksql_server: KsqlServer) -> Iterator[dict[str, RunResult]]:
    """Run A: 20,000 events at 2,000/s; run B: 10,000 of them at 5,000/s, with a query created
    after its replay; same dump, on a replay topic of their own."""
    with own_source_topic(kafka_broker.config.bootstrap_servers, ksql_server.config.url):
        yield _two_runs(var_dir, kafka_broker, ksql_server)


def _two_runs(var_dir: Path, kafka_broker: KafkaBroker, ksql_server: KsqlServer) -> dict[str, RunResult]:
    dump = var_dir / "dump.jsonl"
    generate_dump(dump, events=EVENTS, seed=12, invalid_fraction=0.002, progress=False)

    def run(
        run_id: str, rate: float, limit: int | None = None, after_replay: Callable[[], None] | None = None
    ) -> RunResult:
        return run_with_report(
            run_id,
            dump,
            rate=rate,
            limit=limit,
            after_replay=after_replay,
            bootstrap=kafka_broker.config.bootstrap_servers,
            ksql_url=ksql_server.config.url,
            broker_metrics_url=kafka_broker.config.metrics_url,
        )

    def late_query() -> None:
        ksql(
            ksql_server.config.url,
            f"CREATE STREAM {LATE_SINK} AS SELECT * FROM MEETUP_EVENTS WHERE `group`->`country` = 'de';",
            {"ksql.streams.auto.offset.reset": "earliest"},
        )

    a = run("it-report-a", 2_000)
    b = run("it-report-b", 5_000, limit=10_000, after_replay=late_query)
    return {"a": a, "b": b}


def _report(result: RunResult) -> dict:  # type: ignore[type-arg]
    return json.loads((result.ctx.report_dir / "report.json").read_text())  # type: ignore[no-any-return]


def test_the_report_reconciles_and_cross_checks_every_sink(runs: dict[str, RunResult]) -> None:
    doc = _report(runs["a"])
    jsonschema.Draft202012Validator(schema()).validate(doc)
    rec = doc["reconciliation"]
    assert rec["read"] == EVENTS == rec["valid"] + rec["quarantined"]
    assert rec["quarantined"] > 0
    assert rec["sent"] == rec["valid"] == rec["source_records"]
    assert rec["reconciled"] is True
    checks = {c["topic"]: c for c in doc["cross_checks"]}
    assert set(checks) == {
        "meetup_events",
        "MEETUP_EVENTS_GERMANY",
        "MEETUP_EVENTS_MUNICH",
        "EVENTS_PER_COUNTRY",
        "EVENTS_PER_CATEGORY",
    }
    for check in checks.values():
        assert check["equal"], check
    assert checks["MEETUP_EVENTS_GERMANY"]["expected"] > 50  # the generator's ~1-2 % German events
    assert checks["MEETUP_EVENTS_MUNICH"]["expected"] > 0
    assert checks["EVENTS_PER_COUNTRY"]["expected"] == rec["sent"]
    assert doc["status"] == "passed" and all(t["passed"] for t in doc["thresholds"])
    assert runs["a"].report["status"] == "passed"


def test_end_to_end_latency_through_the_germany_stream_with_its_histogram(runs: dict[str, RunResult]) -> None:
    doc = _report(runs["a"])
    germany = doc["endToEndLatency"]["MEETUP_EVENTS_GERMANY"]
    assert germany["mode"] == "live"
    hist = germany["endToEndLatency"]
    assert hist["count"] == germany["records"] > 0
    assert 0 < hist["p50"] <= hist["p99"] <= hist["max"]
    assert hist["hdr"]
    assert germany["series"] and sum(s["count"] for s in germany["series"]) == hist["count"]
    source = doc["endToEndLatency"]["meetup_events"]
    assert source["mode"] == "source" and source["endToEndLatency"]["count"] == doc["reconciliation"]["sent"]
    assert source["endToEndLatencyFromIntended"]["count"] > 0
    assert doc["headline"]["e2e_topic"] == "MEETUP_EVENTS_GERMANY"
    assert doc["headline"]["e2e_p99_ms"] == round(hist["p99"] / 1000, 1)


def test_snapshots_cover_the_replay_and_derived_figures_use_them(runs: dict[str, RunResult]) -> None:
    result = runs["a"]
    doc = _report(result)
    scrapes = doc["collector"]["scrapes"]
    # A 10-s replay scraped every second, the broker and ksql from before to after it.
    assert scrapes["broker"] >= 10 and scrapes["ksql"] >= 10 and scrapes["replay"] >= 5
    assert (result.ctx.run_dir / "metrics" / "snapshots.jsonl.gz").is_file()
    rate = doc["replay"]["rate"]
    assert rate["target_per_s"] == 2_000
    assert (
        abs(sum(rate["scraped_sent_per_s"]) - doc["reconciliation"]["sent"])
        <= doc["reconciliation"]["sent"] * 0.02
    )
    source = next(t for t in doc["topics"] if t["topic"] == "meetup_events")
    assert source["records"] == doc["reconciliation"]["sent"]
    # One commit marker per transaction that wrote to the topic sits between the data records.
    counts = doc["replay"]["counts"]
    assert (
        1 <= source["non_data_offsets"] <= counts["transactions_committed"] + counts["transactions_aborted"]
    )
    assert source["broker_messages_in"] == source["offset_delta"]
    assert source["bytes_in"] > 20_000_000 and source["log_size_end"] > source["log_size_start"]
    requests = {r["request"]: r for r in doc["broker_requests"]}
    assert (
        requests["Produce"]["p99"]["max"] is not None and "long-poll" in requests["FetchConsumer"]["measures"]
    )
    queries = {q["sink_topic"]: q for q in doc["queries"]}
    germany = queries["MEETUP_EVENTS_GERMANY"]
    assert germany["records_in"] >= doc["reconciliation"]["sent"] and germany["lag_series"]
    assert germany["drain_s"] is not None and germany["drain_source"] == "drain.json"


def test_a_query_started_after_the_replay_is_a_catch_up_sink(runs: dict[str, RunResult]) -> None:
    doc = _report(runs["b"])
    late = doc["endToEndLatency"][LATE_SINK]
    germany = doc["endToEndLatency"]["MEETUP_EVENTS_GERMANY"]
    assert late["mode"] == "catch-up" and "catch up" in late["measures"]
    assert germany["mode"] == "live"
    # It re-read run A's German events too; only this run's count as its records.
    topic = next(t for t in doc["topics"] if t["topic"] == LATE_SINK)
    assert topic["records"] == germany["records"] > 0
    earlier = _report(runs["a"])["endToEndLatency"]["MEETUP_EVENTS_GERMANY"]["records"]
    assert topic["records_before_window"] >= earlier
    query = next(q for q in doc["queries"] if q["sink_topic"] == LATE_SINK)
    assert query["mode"] == "catch-up" and query["drain_s"] is not None and query["drain_s"] >= 0
    assert doc["headline"]["e2e_topic"] == "MEETUP_EVENTS_GERMANY"


def test_list_and_compare_two_runs_at_different_rates(
    runs: dict[str, RunResult], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert sum("it-report-a" in line or "it-report-b" in line for line in listed) == 2
    assert all("passed" in line for line in listed if "it-report-" in line)
    a, b = (str(runs[k].ctx.report_dir) for k in ("a", "b"))
    assert main(["report", "compare", a, b, "--json"]) == 0
    rows = {r["figure"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["target rate (/s)"]["a"] == 2000 and rows["target rate (/s)"]["b"] == 5000
    assert rows["target rate (/s)"]["ratio"] == 2.5
    # B was asked for 2.5 times A's rate: it sent faster, and its 10,000 records in less time
    # (how much faster depends on what else the 2 cores run beside the broker, the six queries
    # and the probes, so no closer bound holds on a loaded machine).
    assert 1.0 < rows["achieved rate (/s)"]["ratio"] <= 2.6
    committed = rows["events committed"]
    assert committed["b"] <= 10_000 < committed["a"] and committed["delta"] == committed["b"] - committed["a"]
    assert rows["send span (s)"]["b"] < rows["send span (s)"]["a"]
    assert main(["report", "compare", a, b]) == 0
    text = capsys.readouterr().out
    assert "target rate" in text and "B / A" in text
    index = Path(os.environ["REPLAY_VAR_DIR"]) / "reports" / "index.html"
    assert "it-report-b" in index.read_text()


def test_a_failed_limit_fails_the_step_after_writing_the_report(
    runs: dict[str, RunResult], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = runs["b"].ctx.run_dir
    code = main(["report", "build", str(run_dir), "--threshold", "e2e_p99_ms[MEETUP_EVENTS_GERMANY]<=0.001"])
    assert code == 15
    assert "limit(s) failed" in capsys.readouterr().err
    doc = _report(runs["b"])
    assert doc["status"] == "failed"
    assert [t["passed"] for t in doc["thresholds"]] == [False]
    assert main(["report", "build", str(run_dir)]) == 0  # the default limits pass again


# -- the page in headless Chromium ------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = PROJECT_ROOT / "var" / "test-artifacts"


def _open(page_path: Path, screenshot: Path) -> tuple[list[dict[str, float]], list[str], str]:
    """Load the page from disk; the plots' sizes, every URL it asked for, its title."""
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requested.append(request.url))
            page.goto(page_path.as_uri(), wait_until="load")
            boxes = page.eval_on_selector_all(
                "figure.plot svg",
                "els => els.map(e => { const r = e.getBoundingClientRect(); return {w: r.width, h: r.height}; })",
            )
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
            title = page.title()
        finally:
            browser.close()
    return boxes, requested, title


def test_the_report_renders_offline_with_visible_plots(runs: dict[str, RunResult]) -> None:
    assert Path(CHROMIUM).exists(), ".ci/run installs Debian's chromium"
    html = runs["a"].ctx.report_dir / "report.html"
    shot = ARTIFACTS / "report-a.png"
    boxes, requested, title = _open(html, shot)
    assert "it-report-a" in title
    # Rate, Germany/Munich/source/table latency over time and histograms, sizes, query lag.
    assert len(boxes) >= 8
    assert all(box["w"] > 100 and box["h"] > 50 for box in boxes), boxes
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == []
    assert shot.stat().st_size > 20_000


def test_the_index_renders_its_trends(runs: dict[str, RunResult]) -> None:
    index = runs["a"].ctx.report_root / "index.html"
    boxes, requested, title = _open(index, ARTIFACTS / "report-index.png")
    assert title == "Replay reports"
    assert len(boxes) >= 2 and all(box["w"] > 100 and box["h"] > 30 for box in boxes)
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == []


def test_a_stray_report_json_under_the_root_is_skipped_not_fatal(
    runs: dict[str, RunResult], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    from replay.report import catalog

    root = runs["a"].ctx.report_root
    stray = root / "meetup_replay" / "half-written" / "report.json"
    stray.parent.mkdir(parents=True)
    stray.write_text(json.dumps({"run_id": "half-written", "status": "passed"}))
    broken = root / "cli" / "not-json" / "report.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{")
    try:
        with caplog.at_level("WARNING"):
            found = {doc["run_id"] for doc in catalog.find_reports(root)}
            catalog.write_index(root)
        assert {"it-report-a", "it-report-b"} <= found and not found & {"half-written", "not-json"}
        assert any(
            "half-written" in r.message and "not a report of this schema" in r.message for r in caplog.records
        )
        assert main(["report", "list"]) == 0
        assert "half-written" not in capsys.readouterr().out
    finally:
        stray.unlink()
        broken.unlink()


def test_report_build_with_a_pipeline_files_and_names_the_report_under_it(
    runs: dict[str, RunResult], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = runs["b"].ctx.run_dir
    assert json.loads((run_dir / "run.json").read_text())["pipeline"] == "cli"
    rebuilt = runs["b"].ctx.report_root / "rebuilt" / run_dir.name
    try:
        assert main(["report", "build", str(run_dir), "--pipeline", "rebuilt"]) == 0
        assert str(rebuilt / "report.html") in capsys.readouterr().out
        assert json.loads((rebuilt / "report.json").read_text())["pipeline"] == "rebuilt"
    finally:
        shutil.rmtree(rebuilt.parent, ignore_errors=True)
        main(["report", "index"])  # the index again without the rebuilt copy
