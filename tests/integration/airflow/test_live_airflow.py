"""Against a running Airflow: the plugin's routes need a login and never serve a file outside the
report root; a replay task killed mid-way is retried and the topic holds each record once."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import pytest

from replay.dump.generator import generate_dump
from tests.conftest import consume_committed
from tests.integration.airflow.conftest import LiveAirflow
from tests.integration.replay_checks import assert_exactly_once

RUN = "manual__2026-12-02T10:00:00+00:00"


def _get(live: LiveAirflow, raw_path: str, token: str | None = None) -> tuple[int, str]:
    """A GET with the path sent exactly as given (no client-side normalisation of .. or %)."""
    connection = http.client.HTTPConnection("127.0.0.1", live.settings.api_port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        connection.request("GET", raw_path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def _token(live: LiveAirflow) -> str:
    api = live.api()
    return str(api.session.headers["Authorization"]).removeprefix("Bearer ")


@pytest.fixture
def report_tree(live_airflow: LiveAirflow) -> Iterator[dict[str, Path]]:
    """A report (a partial report.json, as a hand-made or older one may be) and a secret next to
    the report root; removed afterwards, so the runs of later tests index a clean root."""
    root = live_airflow.var / "reports"
    report = root / "meetup_replay" / RUN
    report.mkdir(parents=True, exist_ok=True)
    (report / "report.html").write_text("<html>report of the test run</html>")
    (report / "report.json").write_text(json.dumps({"run_id": RUN, "validation": {"passed": True}}))
    secret = live_airflow.var / "secret.txt"
    secret.write_text("TOP-SECRET-OUTSIDE")
    (report / "leak.txt").symlink_to(secret)
    yield {"root": root, "report": report, "secret": secret}
    shutil.rmtree(report)
    secret.unlink()


def test_every_plugin_route_requires_authentication(
    live_airflow: LiveAirflow, report_tree: dict[str, Path]
) -> None:
    run = quote(RUN, safe="")
    paths = [
        "/replay-reports/",
        "/replay-reports/api/runs",
        f"/replay-reports/runs/meetup_replay/{run}/",
        f"/replay-reports/runs/meetup_replay/{run}/report.json",
    ]
    token = _token(live_airflow)
    for path in paths:
        assert _get(live_airflow, path)[0] == 401, path
        assert _get(live_airflow, path, token="not-a-token")[0] in (401, 403), path
        status, body = _get(live_airflow, path, token)
        assert status == 200, (path, status, body[:300])
    assert "report of the test run" in _get(live_airflow, paths[2], token)[1]
    plugins = live_airflow.api().request("GET", "/api/v2/plugins")["plugins"]
    ours = next(p for p in plugins if p["name"] == "replay_reports")
    assert {v["destination"] for v in ours["external_views"]} == {"nav", "dag_run"}


@pytest.mark.parametrize(
    "path",
    [
        "/replay-reports/runs/meetup_replay/{run}/../../../secret.txt",
        "/replay-reports/runs/meetup_replay/{run}/..%2F..%2F..%2Fsecret.txt",
        "/replay-reports/runs/meetup_replay/{run}/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/replay-reports/runs/meetup_replay/{run}/%252e%252e%252f%252e%252e%252f%252e%252e%252fsecret.txt",
        "/replay-reports/runs/%2e%2e/%2e%2e/secret.txt",
        "/replay-reports/runs/meetup_replay/{run}/%2Fetc%2Fpasswd",
        "/replay-reports/runs/meetup_replay/{run}//etc/passwd",
        "/replay-reports/runs/meetup_replay/{run}/leak.txt",
    ],
)
def test_no_file_outside_the_report_root_is_served(
    live_airflow: LiveAirflow, report_tree: dict[str, Path], path: str
) -> None:
    status, body = _get(live_airflow, path.format(run=quote(RUN, safe="")), _token(live_airflow))
    assert status in (404, 307, 400), (path, status)
    assert "TOP-SECRET-OUTSIDE" not in body and "root:x:" not in body


def _task_process(ti_id: str) -> psutil.Process | None:
    """The task's own process: the Task SDK titles it ``airflow worker -- <ti id>``."""
    for proc in psutil.process_iter(["cmdline"]):
        if proc.info["cmdline"] and " ".join(proc.info["cmdline"]).strip() == f"airflow worker -- {ti_id}":
            return proc
    return None


def _high_watermark(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermark-probe"})
    try:
        metadata = consumer.list_topics(topic, timeout=5).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return 0
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
            for p in metadata.partitions
        )
    finally:
        consumer.close()


def test_a_killed_replay_task_is_retried_and_the_topic_holds_each_record_once(
    live_airflow: LiveAirflow, bootstrap_servers: str, topic_name: str
) -> None:
    events = 20_000
    dump = live_airflow.var / "dumps" / "kill.jsonl"
    generate_dump(dump, events=events, seed=11, progress=False)
    api = live_airflow.api()
    api.wait_for_dag("meetup_replay")
    api.unpause("meetup_replay")
    conf = {"dump": str(dump), "topic": topic_name, "pacing": "rate", "rate": 2500, "partitions": 2}
    run_id = api.trigger("meetup_replay", conf)["dag_run_id"]

    deadline = time.monotonic() + 240
    killed: psutil.Process | None = None
    while killed is None:
        assert time.monotonic() < deadline, api.task_instances("meetup_replay", run_id)
        replay = next(ti for ti in api.task_instances("meetup_replay", run_id) if ti["task_id"] == "replay")
        assert replay["state"] not in ("success", "failed"), "the replay ended before it could be killed"
        if replay["state"] == "running" and _high_watermark(bootstrap_servers, topic_name) > 1000:
            killed = _task_process(replay["id"])
            if killed is not None:
                killed.send_signal(signal.SIGKILL)
        time.sleep(0.2)
    at_kill = _high_watermark(bootstrap_servers, topic_name)
    assert at_kill < events, "the replay was already complete when killed"

    finished = api.follow("meetup_replay", run_id, timeout_s=300)
    instances = {ti["task_id"]: ti for ti in api.task_instances("meetup_replay", run_id)}
    assert finished["state"] == "success", instances
    assert instances["replay"]["try_number"] >= 2, instances["replay"]
    records = consume_committed(bootstrap_servers, topic_name)
    assert_exactly_once(records, events, dump)
    run_folder = live_airflow.var / "runs" / run_id
    summary: dict[str, Any] = json.loads((run_folder / "produce-summary.json").read_text())
    assert summary["status"] == "completed" and summary["counts"]["committed"] < events, "a resumed replay"
    assert summary["run_totals"]["records"] == events
    assert finished.get("note") and "cross-checks ok" in finished["note"], finished
    assert f"{events:,} events of {events:,} read" in finished["note"], finished["note"]
    links = api.request(
        "GET", f"/api/v2/dags/meetup_replay/dagRuns/{quote(run_id, safe='')}/taskInstances/replay/links"
    )
    assert links["extra_links"] == {
        "Run report": f"/replay-reports/runs/meetup_replay/{quote(run_id, safe='')}/"
    }
