"""Summaries (median, min, max of the runs), the ratios, the targets of the issue, the
printed tables and the JSON document."""

import statistics
from collections.abc import Iterable
from typing import Any

# The targets of the first benchmark issue, on PostgreSQL with classic queues.
MIN_RATIO_TO_NAMEKO = 1.0
MIN_RATIO_TO_RAW_PIKA = 0.5
MAX_P99_MS = 50.0
MAX_HISTORY_SLOWDOWN = 0.10
MAX_RSS_MB = 150.0
# Issue 13: against the like-for-like peers; p99 at half load per backend.
MIN_BATCHED_TO_NAMEKO_DB = 2.0
MAX_P99_MS_BY_BACKEND = {"postgresql": 20.0, "sqlite": 30.0}

PROJECT, NAMEKO, RAW, HISTORY = "project-pg", "plain-nameko", "raw-pika", "project-pg-history"
NAMEKO_DB, FASTSTREAM, FASTSTREAM_DB = "nameko-db", "faststream", "faststream-db"
QUORUM = "project-pg-quorum"
BATCHED, BATCHED_QUORUM = "project-pg-batched", "project-pg-batched-quorum"
SQLITE, SQLITE_BATCHED = "project-sqlite", "project-sqlite-batched"

RATIO_PAIRS = (
    # exactly-once against what users write today, and against nameko that writes nothing
    (PROJECT, NAMEKO_DB),
    (PROJECT, NAMEKO),
    (PROJECT, FASTSTREAM_DB),
    (PROJECT, RAW),
    (QUORUM, NAMEKO_DB),
    (QUORUM, NAMEKO),
    (QUORUM, PROJECT),
    (QUORUM, RAW),
    (SQLITE, NAMEKO_DB),
    (SQLITE, NAMEKO),
    (SQLITE, RAW),
    (HISTORY, PROJECT),
    # batched units of work (rows added by that work; a pair whose rows did not run is
    # left out of the output)
    (BATCHED, NAMEKO),
    (BATCHED, NAMEKO_DB),
    (BATCHED, PROJECT),
    (BATCHED_QUORUM, NAMEKO),
    (BATCHED_QUORUM, NAMEKO_DB),
    (SQLITE_BATCHED, NAMEKO),
    (SQLITE_BATCHED, NAMEKO_DB),
    (SQLITE_BATCHED, SQLITE),
    # the peers among themselves: what a database costs each framework, and the frameworks
    (NAMEKO_DB, NAMEKO),
    (FASTSTREAM, NAMEKO),
    (FASTSTREAM_DB, NAMEKO_DB),
    (FASTSTREAM_DB, FASTSTREAM),
)
"""``numerator / denominator`` of median throughputs, printed for every pair that ran."""


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
    """The ratios of :data:`RATIO_PAIRS` and each target; a target whose rows were not
    part of the run is left out (one whose rows failed shows ``n/a``)."""
    ratios: dict[str, dict[str, float | None]] = {}
    targets: list[dict] = []
    for size in map(str, sizes):
        ratios[size] = {
            f"{a} / {b}": _ratio(_throughput(rows, a, size), _throughput(rows, b, size))
            for a, b in RATIO_PAIRS
            if a in rows and b in rows
        }
        wanted_ratios = [
            (PROJECT, NAMEKO, MIN_RATIO_TO_NAMEKO),
            (PROJECT, RAW, MIN_RATIO_TO_RAW_PIKA),
            (HISTORY, PROJECT, 1 - MAX_HISTORY_SLOWDOWN),
            # issue 13, on classic and on quorum (the default topology) queues
            (PROJECT, NAMEKO_DB, 1.0),
            (QUORUM, NAMEKO_DB, 1.0),
            (BATCHED, NAMEKO, 1.0),
            (BATCHED, NAMEKO_DB, MIN_BATCHED_TO_NAMEKO_DB),
            (BATCHED_QUORUM, NAMEKO, 1.0),
            (BATCHED_QUORUM, NAMEKO_DB, MIN_BATCHED_TO_NAMEKO_DB),
        ]
        for a, b, wanted in wanted_ratios:
            if a not in rows or b not in rows:
                continue
            value = ratios[size][f"{a} / {b}"]
            name = (
                f"{a} within {1 - wanted:.0%} of {b}"
                if (a, b) == (HISTORY, PROJECT)
                else f"{a} ≥ {wanted:g} × {b}"
            )
            targets.append(
                {
                    "target": f"{name} ({int(size):,} events)",
                    "value": value,
                    "met": None if value is None else value >= wanted,
                }
            )
    if PROJECT in rows:
        p99_value = _p99(rows[PROJECT])
        targets.append(
            {
                "target": f"{PROJECT} p99 < {MAX_P99_MS:.0f} ms at half load",
                "value": p99_value,
                "met": None if p99_value is None else p99_value < MAX_P99_MS,
            }
        )
    for label, row in rows.items():
        limit = MAX_P99_MS_BY_BACKEND.get(row.get("backend") or "")
        if not _is_project(label, row) or limit is None:
            continue
        p99_value = _p99(row)
        targets.append(
            {
                "target": f"{label} p99 < {limit:.0f} ms at half load",
                "value": p99_value,
                "met": None if p99_value is None else p99_value < limit,
            }
        )
    # The project's own processes: a peer's memory (FastStream buffers the whole backlog:
    # no prefetch limit) is reported in the table, not held to the project's target.
    peaks = [
        rss
        for label, row in rows.items()
        if _is_project(label, row)
        for size in (row.get("closed_loop") or {}).values()
        for rss in size["peak_rss_mb"].values()
    ]
    targets.append(
        {
            "target": f"every project forwarder process < {MAX_RSS_MB:.0f} MB RSS",
            "value": max(peaks) if peaks else None,
            "met": max(peaks) < MAX_RSS_MB if peaks else None,  # no project row: n/a
        }
    )
    return ratios, targets


def _is_project(label: str, row: dict[str, Any]) -> bool:
    return row.get("kind", "project" if label.startswith("project-") else None) == "project"


def _p99(row: dict[str, Any]) -> float | None:
    latency = row.get("latency")
    return latency["p99_ms"]["median"] if latency else None


def state_row_check(rows: dict[str, Any]) -> list[str]:
    """Every closed-loop run of a row with a database must have written exactly one
    ``bench_items`` row per event: the lines that say otherwise."""
    problems = []
    for label, row in rows.items():
        for size, result in (row.get("closed_loop") or {}).items():
            for number, run in enumerate(result["runs"], 1):
                written = run.get("state_rows")
                if written is not None and written != run["events"]:
                    problems.append(
                        f"{label} {int(size):,} events run {number}: {written:,} state rows"
                    )
    return problems


def _fmt(spread_: dict[str, float] | None, digits: int = 0) -> str:
    if not spread_:
        return "—"
    return (
        f"{spread_['median']:,.{digits}f} [{spread_['min']:,.{digits}f}–"
        f"{spread_['max']:,.{digits}f}]"
    )


def tables(document: dict[str, Any]) -> str:
    rows, sizes = document["rows"], document["options"]["events"]
    width = _label_width(rows)
    lines = [
        "",
        "Closed loop (input queue pre-filled): median [min–max] of "
        f"{document['options']['runs']} run(s); CPU seconds per 1,000 events "
        "(forwarder process / broker / PostgreSQL); peak RSS of the forwarder process",
        "",
    ]
    header = (
        f"{'row':<{width}} {'queue':<8} {'events':>8}  {'events/s':<26} "
        f"{'fwd CPU s/1k':<20} {'broker':>6} {'pg':>6} {'RSS MB':>7}"
    )
    lines += [header, "-" * len(header)]
    for label, row in rows.items():
        if row.get("error"):
            lines.append(f"{label:<{width}} {row['queue_type']:<8} FAILED: {row['error'][:60]}")
            continue
        for size in map(str, sizes):
            result = row["closed_loop"].get(size)
            if result is None:
                continue
            cpu = result["cpu_s_per_1k"]
            pg = f"{cpu['postgres']['median']:.2f}" if row.get("backend") == "postgresql" else "—"
            lines.append(
                f"{label:<{width}} {row['queue_type']:<8} {int(size):>8,}  "
                f"{_fmt(result['throughput']):<26} {_fmt(cpu['forwarder'], 2):<20} "
                f"{cpu['broker']['median']:>6.2f} {pg:>6} "
                f"{result['peak_rss_mb']['forwarder']:>7.0f}" + fewer_runs(result, document)
            )
    problems = state_row_check(rows)
    lines += [
        "",
        "State rows: every run of a row with a database wrote one bench_items row per event"
        if not problems
        else "State rows NOT one per event: " + "; ".join(problems),
    ]
    lines += _latency_table(
        document,
        "latency",
        "Open loop (constant rate = 50 % of the row's median throughput at "
        f"{int(sizes[-1]):,} events; {document['options']['latency_seconds']} s + "
        f"{document['options']['warmup_seconds']} s warm-up): end-to-end latency, ms",
    )
    low_rate = document["options"].get("low_rate")
    if low_rate:
        lines += _latency_table(
            document,
            "low_load_latency",
            f"Open loop at low load ({low_rate:g} events/s, the forwarder mostly idle): "
            "end-to-end latency, ms",
        )
    lines += ["", "Ratios of median throughputs (queue types: numerator / denominator)", ""]
    for size, values in document["ratios"].items():
        for name, value in values.items():
            if value is not None:
                a, _, b = name.partition(" / ")
                queues = f"{rows[a]['queue_type']} / {rows[b]['queue_type']}"
                lines.append(f"  {int(size):>8,} events  {name:<42} {value:6.2f}  ({queues})")
    lines += ["", "Targets (PostgreSQL unless named; queue type as in the row's name)", ""]
    for target in document["targets"]:
        verdict = {True: "MET   ", False: "MISSED", None: "n/a   "}[target["met"]]
        value = "—" if target["value"] is None else f"{target['value']:.2f}"
        lines.append(f"  {verdict} {target['target']:<58} {value}")
    notes = [(label, row["notes"]) for label, row in rows.items() if row.get("notes")]
    if notes:
        lines += ["", "What the peers do not guarantee", ""]
        lines += [f"  {label}: {text}" for label, text in notes]
    return "\n".join(lines)


def _label_width(rows: dict[str, Any]) -> int:
    return max([20, *(len(label) for label in rows)])


def fewer_runs(result: dict[str, Any], document: dict[str, Any]) -> str:
    """`` (1 of 3 runs)`` for a measurement an interrupted run did not finish, else ``""``."""
    done, asked = len(result["runs"]), document["options"]["runs"]
    return f" ({done} of {asked} runs)" if done < asked else ""


def _latency_table(document: dict[str, Any], key: str, title: str) -> list[str]:
    rows = document["rows"]
    width = _label_width(rows)
    header = (
        f"{'row':<{width}} {'queue':<8} {'rate/s':>8}  {'p50':<20} {'p95':<20} {'p99':<20} "
        f"{'lost':>5}"
    )
    lines = ["", title, "", header, "-" * len(header)]
    for label, row in rows.items():
        latency = row.get(key)
        if not latency:
            continue
        lines.append(
            f"{label:<{width}} {row['queue_type']:<8} {latency['rate']:>8,.0f}  "
            f"{_fmt(latency['p50_ms'], 1):<20} {_fmt(latency['p95_ms'], 1):<20} "
            f"{_fmt(latency['p99_ms'], 1):<20} {latency['lost']:>5}" + fewer_runs(latency, document)
        )
    return lines
