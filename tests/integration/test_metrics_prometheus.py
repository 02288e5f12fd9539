"""The collector's Prometheus path against a real Prometheus server (Debian's ``prometheus``,
installed by .ci/run), started here on a free loopback port and scraping the session broker's
JMX exporter, the ksql server and the replay's own endpoint every second."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from replay.dump.generator import generate_dump
from replay.metrics.snapshots import read_snapshots
from replay.settings import MetricsSettings
from replay.stack.broker import KafkaBroker
from replay.stack.ksql import KsqlServer
from replay.stack.process import find_free_ports, stop_pid
from tests.integration.report_helpers import run_with_report
from tests.integration.source_topic import own_source_topic

pytestmark = pytest.mark.integration

PROMETHEUS = "/usr/bin/prometheus"


@pytest.fixture
def prometheus(
    tmp_path: Path, kafka_broker: KafkaBroker, ksql_server: KsqlServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A Prometheus server scraping our three endpoints; yields its URL."""
    assert Path(PROMETHEUS).exists(), ".ci/run installs Debian's prometheus"
    web, replay_port = find_free_ports(2)
    monkeypatch.setenv("REPLAY_METRICS_REPLAY_PORT", str(replay_port))
    broker = kafka_broker.config.metrics_url.split("//")[1].split("/")[0]
    ksql = ksql_server.config.url.split("//")[1]
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n"
        + "".join(
            f"  - job_name: {job}\n    static_configs: [{{targets: ['{target}']}}]\n"
            for job, target in (("broker", broker), ("ksql", ksql), ("replay", f"127.0.0.1:{replay_port}"))
        )
    )
    log = (tmp_path / "prometheus.log").open("wb")
    child = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{web}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{web}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert child.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            try:
                if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "prometheus did not get ready"
            time.sleep(0.2)
        yield url
    finally:
        stop_pid(child.pid, timeout_s=15)
        log.close()


def test_the_collector_reads_the_series_from_prometheus(
    prometheus: str,
    kafka_broker: KafkaBroker,
    ksql_server: KsqlServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPLAY_VAR_DIR", str(tmp_path / "var"))
    dump = tmp_path / "dump.jsonl"
    generate_dump(dump, events=4_000, seed=21, progress=False)
    with own_source_topic(kafka_broker.config.bootstrap_servers, ksql_server.config.url):
        result = run_with_report(
            "it-prometheus",
            dump,
            rate=1_000,
            bootstrap=kafka_broker.config.bootstrap_servers,
            ksql_url=ksql_server.config.url,
            broker_metrics_url=kafka_broker.config.metrics_url,
            metrics=MetricsSettings(prometheus_url=prometheus),
        )
    assert result.metrics_started["mode"] == "prometheus"
    assert result.metrics_stopped["mode"] == "prometheus"
    snapshots = list(read_snapshots(result.ctx.run_dir / "metrics" / "snapshots.jsonl.gz"))
    # Nothing scraped directly: the series come from one range query of the server's HTTP API.
    assert {s["source"] for s in snapshots} <= {"prometheus", "replay"}
    (matrix,) = [s for s in snapshots if s["source"] == "prometheus"]
    names = {series["metric"]["__name__"] for series in matrix["result"]}
    assert {"replay_records_sent_total", "ksql_query_messages_consumed_total", "kafka_log_log_size"} <= names
    doc = json.loads((result.ctx.report_dir / "report.json").read_text())
    assert doc["status"] == "passed"
    sent = doc["reconciliation"]["sent"]
    assert abs(sum(doc["replay"]["rate"]["scraped_sent_per_s"]) - sent) <= 0.05 * sent
    source = next(t for t in doc["topics"] if t["topic"] == "meetup_events")
    assert source["bytes_in"] and source["bytes_in"] > 1_000_000
    germany = next(q for q in doc["queries"] if q["sink_topic"] == "MEETUP_EVENTS_GERMANY")
    assert germany["records_in"] and germany["records_in"] >= sent * 0.95 and germany["lag_series"]
