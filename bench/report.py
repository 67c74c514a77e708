"""Summaries (median, min, max of the runs), the ratios, the targets of the issue, the
printed tables and the JSON document."""

import statistics
from collections.abc import Iterable
from typing import Any

# The targets of the benchmark issue, on PostgreSQL with classic queues.
MIN_RATIO_TO_NAMEKO = 1.0
MIN_RATIO_TO_RAW_PIKA = 0.5
MAX_P99_MS = 50.0
MAX_HISTORY_SLOWDOWN = 0.10
MAX_RSS_MB = 150.0

PROJECT, NAMEKO, RAW, HISTORY = "project-pg", "plain-nameko", "raw-pika", "project-pg-history"


def spread(values: Iterable[float]) -> dict[str, float]:
    values = list(values)
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise_closed(runs: list[dict[str, Any]]) -> dict[str, Any]:
    processes = runs[0]["cpu_s_per_1k"].keys()
    return {
        "throughput": spread(run["throughput"] for run in runs),
        "cpu_s_per_1k": {p: spread(run["cpu_s_per_1k"][p] for run in runs) for p in processes},
        "peak_rss_mb": {
            p: max(run["peak_rss_mb"][p] for run in runs) for p in runs[0]["peak_rss_mb"]
        },
        "runs": runs,
    }


def summarise_open(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rate": runs[0]["rate"],
        **{
            key: spread(run[key] for run in runs)
            for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms")
        },
        "lost": sum(run["lost"] for run in runs),
        "runs": runs,
    }


def _throughput(rows: dict, label: str, size: str) -> float | None:
    try:
        return rows[label]["closed_loop"][size]["throughput"]["median"]
    except (KeyError, TypeError):
        return None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator and denominator else None


def evaluate(rows: dict[str, Any], sizes: list[int]) -> tuple[dict, list[dict]]:
    """The ratios project / plain nameko and project / raw pika, and each target."""
    ratios: dict[str, dict[str, float | None]] = {}
    targets: list[dict] = []
    for size in map(str, sizes):
        project = _throughput(rows, PROJECT, size)
        ratios[size] = {
            f"{label} / {other}": _ratio(
                _throughput(rows, label, size), _throughput(rows, other, size)
            )
            for label in (PROJECT, "project-sqlite", "project-pg-quorum")
            for other in (NAMEKO, RAW)
        }
        ratios[size][f"{HISTORY} / {PROJECT}"] = _ratio(_throughput(rows, HISTORY, size), project)
        for name, value, wanted in (
            (
                f"{PROJECT} ≥ {MIN_RATIO_TO_NAMEKO} × {NAMEKO}",
                ratios[size][f"{PROJECT} / {NAMEKO}"],
                MIN_RATIO_TO_NAMEKO,
            ),
            (
                f"{PROJECT} ≥ {MIN_RATIO_TO_RAW_PIKA} × {RAW}",
                ratios[size][f"{PROJECT} / {RAW}"],
                MIN_RATIO_TO_RAW_PIKA,
            ),
            (
                f"{HISTORY} within {MAX_HISTORY_SLOWDOWN:.0%} of {PROJECT}",
                ratios[size][f"{HISTORY} / {PROJECT}"],
                1 - MAX_HISTORY_SLOWDOWN,
            ),
        ):
            targets.append(
                {
                    "target": f"{name} ({int(size):,} events)",
                    "value": value,
                    "met": None if value is None else value >= wanted,
                }
            )
    p99 = (rows.get(PROJECT) or {}).get("latency")
    p99_value = p99["p99_ms"]["median"] if p99 else None
    targets.append(
        {
            "target": f"{PROJECT} p99 < {MAX_P99_MS:.0f} ms at half load",
            "value": p99_value,
            "met": None if p99_value is None else p99_value < MAX_P99_MS,
        }
    )
    peaks = [
        rss
        for row in rows.values()
        for size in (row.get("closed_loop") or {}).values()
        for rss in size["peak_rss_mb"].values()
    ]
    targets.append(
        {
            "target": f"every forwarder process < {MAX_RSS_MB:.0f} MB RSS",
            "value": max(peaks) if peaks else None,
            "met": bool(peaks) and max(peaks) < MAX_RSS_MB,
        }
    )
    return ratios, targets


def _fmt(spread_: dict[str, float] | None, digits: int = 0) -> str:
    if not spread_:
        return "—"
    return (
        f"{spread_['median']:,.{digits}f} [{spread_['min']:,.{digits}f}–"
        f"{spread_['max']:,.{digits}f}]"
    )


def tables(document: dict[str, Any]) -> str:
    rows, sizes = document["rows"], document["options"]["events"]
    lines = [
        "",
        "Closed loop (input queue pre-filled): median [min–max] of "
        f"{document['options']['runs']} run(s); CPU seconds per 1,000 events "
        "(forwarder process / broker / PostgreSQL); peak RSS of the forwarder process",
        "",
    ]
    header = (
        f"{'row':<20} {'queue':<8} {'events':>8}  {'events/s':<26} "
        f"{'fwd CPU s/1k':<20} {'broker':>6} {'pg':>6} {'RSS MB':>7}"
    )
    lines += [header, "-" * len(header)]
    for label, row in rows.items():
        if row.get("error"):
            lines.append(f"{label:<20} {row['queue_type']:<8} FAILED: {row['error'][:60]}")
            continue
        for size in map(str, sizes):
            result = row["closed_loop"].get(size)
            if result is None:
                continue
            cpu = result["cpu_s_per_1k"]
            pg = f"{cpu['postgres']['median']:.2f}" if row.get("backend") == "postgresql" else "—"
            lines.append(
                f"{label:<20} {row['queue_type']:<8} {int(size):>8,}  "
                f"{_fmt(result['throughput']):<26} {_fmt(cpu['forwarder'], 2):<20} "
                f"{cpu['broker']['median']:>6.2f} {pg:>6} "
                f"{result['peak_rss_mb']['forwarder']:>7.0f}"
            )
    lines += [
        "",
        "Open loop (constant rate = 50 % of the row's median throughput at "
        f"{int(sizes[-1]):,} events; {document['options']['latency_seconds']} s + "
        f"{document['options']['warmup_seconds']} s warm-up): end-to-end latency, ms",
        "",
    ]
    header = f"{'row':<20} {'rate/s':>8}  {'p50':<20} {'p95':<20} {'p99':<20} {'lost':>5}"
    lines += [header, "-" * len(header)]
    for label, row in rows.items():
        latency = row.get("latency")
        if not latency:
            continue
        lines.append(
            f"{label:<20} {latency['rate']:>8,.0f}  {_fmt(latency['p50_ms'], 1):<20} "
            f"{_fmt(latency['p95_ms'], 1):<20} {_fmt(latency['p99_ms'], 1):<20} "
            f"{latency['lost']:>5}"
        )
    lines += ["", "Ratios of median throughputs", ""]
    for size, values in document["ratios"].items():
        for name, value in values.items():
            if value is not None:
                lines.append(f"  {int(size):>8,} events  {name:<36} {value:6.2f}")
    lines += ["", "Targets (PostgreSQL, classic queues)", ""]
    for target in document["targets"]:
        verdict = {True: "MET   ", False: "MISSED", None: "n/a   "}[target["met"]]
        value = "—" if target["value"] is None else f"{target['value']:.2f}"
        lines.append(f"  {verdict} {target['target']:<58} {value}")
    return "\n".join(lines)
