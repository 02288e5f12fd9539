"""Reading metrics: one scrape of a Prometheus text endpoint, or series from a Prometheus server.

Both return snapshot records for :mod:`replay.metrics.snapshots` (raw, as served), so that the
report parses them later, the same way, whichever path collected them.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from replay.errors import MetricsError

# Everything the report reads: the broker (JMX exporter), the ksql server, the replay.
PROMETHEUS_SELECTOR = '{__name__=~"kafka_.+|ksql_.+|replay_.+"}'


def scrape(session: requests.Session, source: str, url: str, *, timeout_s: float = 5.0) -> dict[str, Any]:
    """One scrape of ``url``; a failure is recorded in the snapshot (status 0 and the error)."""
    began = time.time()
    record: dict[str, Any] = {"t": int(began * 1000), "source": source, "url": url}
    try:
        response = session.get(url, timeout=timeout_s)
    except requests.RequestException as error:
        record.update(status=0, error=str(error)[:300], ms=round((time.time() - began) * 1000, 1))
        return record
    record.update(status=response.status_code, ms=round((time.time() - began) * 1000, 1))
    if response.status_code == 200:
        # The text format is UTF-8; response.text would guess the charset of ~100 KB every second.
        record["text"] = response.content.decode("utf-8", "replace")
    else:
        record["error"] = response.text[:300]
    return record


def prometheus_ready(url: str, *, timeout_s: float = 5.0) -> None:
    """The Prometheus server answers, else :class:`MetricsError`."""
    try:
        response = requests.get(url.rstrip("/") + "/-/ready", timeout=timeout_s)
    except requests.RequestException as error:
        raise MetricsError(
            f"the Prometheus server at {url} does not answer: {error}",
            hint="start it, or unset REPLAY_METRICS_PROMETHEUS_URL to scrape the endpoints directly",
        ) from error
    if response.status_code != 200:
        raise MetricsError(
            f"the Prometheus server at {url} is not ready (HTTP {response.status_code})",
            hint="wait until it has started, or unset REPLAY_METRICS_PROMETHEUS_URL",
        )


def prometheus_range(
    url: str, start_s: float, end_s: float, step_s: float, *, selector: str = PROMETHEUS_SELECTOR
) -> dict[str, Any]:
    """The series of ``selector`` between ``start_s`` and ``end_s`` (``/api/v1/query_range``),
    as one snapshot record holding the API's matrix."""
    params: dict[str, str | float] = {"query": selector, "start": start_s, "end": end_s, "step": step_s}
    try:
        response = requests.get(url.rstrip("/") + "/api/v1/query_range", params=params, timeout=60)
        body = response.json()
    except (requests.RequestException, ValueError) as error:
        raise MetricsError(
            f"reading series from the Prometheus server at {url} failed: {error}",
            hint="check that it runs and scrapes the broker, the ksql server and the replay",
        ) from error
    if response.status_code != 200 or body.get("status") != "success":
        raise MetricsError(
            f"the Prometheus server at {url} refused the range query: {body.get('error') or response.text[:300]}",
            hint="check the server's version (the HTTP API v1 is needed) and its logs",
        )
    return {
        "t": int(end_s * 1000),
        "source": "prometheus",
        "url": url,
        "query": selector,
        "start": start_s,
        "end": end_s,
        "step": step_s,
        "result": body["data"]["result"],
    }
