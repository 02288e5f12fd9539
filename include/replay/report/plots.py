"""The report's plots: matplotlib (Agg backend) figures rendered to inline SVG.

Each function takes parts of ``report.json`` and returns an ``<svg>`` element (text), or None
when there is nothing to draw. SVG keeps the HTML self-contained and sharp at any zoom.
"""

from __future__ import annotations

import io
import re
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

_SIZE = (8.0, 3.0)
plt.rcParams.update({"font.size": 9, "svg.fonttype": "none", "axes.grid": True, "grid.alpha": 0.3})


# Fixed margins for the 8 x 3 in plots (room for 7-digit tick labels, a title and an axis label):
# tight_layout measured every text on every figure and took 40 % of the report's plotting time.
_MARGINS = {"left": 0.11, "right": 0.98, "top": 0.9, "bottom": 0.16}


def _svg(fig: Figure, *, tight: bool = False) -> str:
    """The figure as an inline ``<svg>``; ``tight`` fits the margins to the labels (for plots
    whose labels vary in length, like topic names)."""
    buffer = io.StringIO()
    if tight:
        fig.tight_layout()
    else:
        fig.subplots_adjust(**_MARGINS)
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    text = buffer.getvalue()
    # Drop the XML prologue and DOCTYPE: the element goes inline into HTML.
    return text[text.index("<svg") :]


def _ms(values: list[int | None]) -> list[float]:
    return [float("nan") if v is None else v / 1000 for v in values]


def rate(rate_figures: dict[str, Any]) -> str | None:
    """Records per second: target vs sent (the replay's windows) and as scraped."""
    sent = rate_figures["sent_per_s"]
    if not sent:
        return None
    fig, ax = plt.subplots(figsize=_SIZE)
    ax.plot(range(len(sent)), sent, label="sent (replay's 1-s windows)", drawstyle="steps-post")
    if rate_figures["target_per_window"]:
        target = rate_figures["target_per_window"]
        ax.plot(range(len(target)), target, "--", label="target", drawstyle="steps-post")
    if rate_figures["scraped_sent_per_s"]:
        scraped = rate_figures["scraped_sent_per_s"]
        ax.plot(range(len(scraped)), scraped, ":", label="sent (scraped /metrics)")
    ax.set_xlabel("second of the replay")
    ax.set_ylabel("records / s")
    ax.legend(loc="lower right")
    return _svg(fig)


def latency_over_time(topic: str, series: list[dict[str, Any]]) -> str | None:
    """p50 / p99 / max end-to-end latency per second of receipt."""
    if not series:
        return None
    t0 = series[0]["t"]
    xs = [s["t"] - t0 for s in series]
    fig, ax = plt.subplots(figsize=_SIZE)
    for key, style in (("p50", "-"), ("p99", "--"), ("max", ":")):
        ax.plot(xs, _ms([s[key] for s in series]), style, label=key)
    ax.set_title(f"{topic}: end-to-end latency per second")
    ax.set_xlabel("second of the run")
    ax.set_ylabel("ms")
    ax.legend(loc="upper right")
    return _svg(fig)


def histogram(topic: str, hist: dict[str, Any]) -> str | None:
    """The latency distribution of a topic (from its HdrHistogram), log-scaled."""
    if not hist.get("hdr"):
        return None
    from hdrh.histogram import HdrHistogram

    decoded = HdrHistogram.decode(hist["hdr"])
    values, counts = [], []
    for item in decoded.get_recorded_iterator():
        values.append(max(item.value_iterated_to, 1) / 1000)
        counts.append(item.count_added_in_this_iter_step)
    # Thousands of HdrHistogram buckets, re-binned onto 80 log-spaced bins: one artist to draw.
    low, high = min(values), max(values)
    edges = np.geomspace(low * 0.99, high * 1.01 if high > low else low * 1.1, 81)
    binned, _ = np.histogram(values, bins=edges, weights=counts)
    fig, ax = plt.subplots(figsize=_SIZE)
    ax.stairs(binned, edges, fill=True, color="#3b6ea5")
    ax.set_xscale("log")
    ax.set_title(f"{topic}: end-to-end latency histogram ({hist['count']:,} records)")
    ax.set_xlabel("ms (log scale)")
    ax.set_ylabel("records")
    for key in ("p50", "p99"):
        if hist.get(key):
            ax.axvline(hist[key] / 1000, color="#c44", linestyle="--", linewidth=0.8)
            ax.text(hist[key] / 1000, ax.get_ylim()[1] * 0.9, key, color="#c44", fontsize=8)
    return _svg(fig)


def topic_sizes(topics: list[dict[str, Any]]) -> str | None:
    """Bytes each topic took on disk by the end, and how much of it this run wrote."""
    rows = [t for t in topics if t.get("log_size_end") is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(_SIZE[0], 0.5 + 0.35 * len(rows)))
    names = [t["topic"] for t in rows]
    ends = [t["log_size_end"] / 1e6 for t in rows]
    growth = [(t["log_size_end"] - (t["log_size_start"] or 0)) / 1e6 for t in rows]
    ax.barh(names, ends, color="#9bb7d4", label="log size at the end (MB)")
    ax.barh(names, growth, color="#3b6ea5", label="written during this run (MB)")
    ax.set_xlabel("MB")
    ax.legend(loc="lower right")
    return _svg(fig, tight=True)


def query_lag(queries: list[dict[str, Any]]) -> str | None:
    """Each persistent query's consumer lag over the run."""
    drawn = [q for q in queries if q["lag_series"]]
    if not drawn:
        return None
    t0 = min(q["lag_series"][0][0] for q in drawn)
    fig, ax = plt.subplots(figsize=_SIZE)
    for query in drawn:
        ax.plot(
            [t - t0 for t, _ in query["lag_series"]],
            [v for _, v in query["lag_series"]],
            label=query["query_id"],
        )
    ax.set_xlabel("second of the run")
    ax.set_ylabel("records behind")
    ax.legend(loc="upper right", fontsize=7)
    return _svg(fig)


def trend(runs: list[dict[str, Any]], key: str, label: str) -> str | None:
    """One headline figure across runs (oldest first), for the index page."""
    points = [(r["run_id"], r["headline"].get(key)) for r in runs if r["headline"].get(key) is not None]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(_SIZE[0], 2.4))
    ax.plot(range(len(points)), [v for _, v in points], "o-")
    ax.set_xticks(
        range(len(points)),
        [re.sub(r"^(run|manual__|scheduled__)-?", "", p[0])[:16] for p in points],
        rotation=30,
        fontsize=6,
    )
    ax.set_ylabel(label)
    return _svg(fig, tight=True)  # rotated run ids below the axis
