"""Series parsed from stored snapshots: a counter that appears mid-run started at zero."""

from __future__ import annotations

from pathlib import Path

from replay.metrics.series import counter_increase
from replay.metrics.snapshots import SNAPSHOTS_FILE, SnapshotWriter
from replay.report.inputs import load_series

_TOPIC = "# TYPE kafka_server_brokertopicmetrics_messagesin counter\n"


def test_a_counter_absent_from_the_first_scrapes_begins_at_zero(tmp_path: Path) -> None:
    writer = SnapshotWriter(tmp_path / SNAPSHOTS_FILE)
    texts = [
        _TOPIC + "kafka_server_brokertopicmetrics_messagesin_total 100\n",
        _TOPIC
        + 'kafka_server_brokertopicmetrics_messagesin_total 150\nkafka_server_brokertopicmetrics_messagesin_total{topic="t"} 50\n',
        _TOPIC
        + 'kafka_server_brokertopicmetrics_messagesin_total 180\nkafka_server_brokertopicmetrics_messagesin_total{topic="t"} 80\n',
    ]
    for i, text in enumerate(texts):
        writer.write({"t": 1000 * i, "source": "broker", "status": 200, "text": text})
    writer.close()
    series = load_series(tmp_path)
    # The topic was created during the run: its first 50 records count too.
    assert (
        counter_increase(series.counter("kafka_server_brokertopicmetrics_messagesin_total", topic="t")) == 80
    )
    assert counter_increase(series.get("kafka_server_brokertopicmetrics_messagesin_total", topic="t")) == 30
    assert series.scrapes == {"broker": 3}
