"""Markdown tables of one or more bench JSON files, for ``docs/performance.md``:

python -m bench.markdown var/bench/latest.json [more.json …]
"""

import argparse
import json
from pathlib import Path

from bench.report import fewer_runs


def _spread(value: dict, digits: int = 0) -> str:
    return f"{value['median']:,.{digits}f} ({value['min']:,.{digits}f}–{value['max']:,.{digits}f})"


def tables(document: dict) -> str:
    lines = [
        "| row | queue | events | events/s median (min–max) | CPU s/1k: forwarder | broker "
        "| PostgreSQL | other | peak RSS MB |",
        "|---|---|---:|---|---|---:|---:|---:|---:|",
    ]
    for label, row in document["rows"].items():
        for size, result in row["closed_loop"].items():
            cpu = result["cpu_s_per_1k"]
            pg = f"{cpu['postgres']['median']:.2f}" if row["backend"] == "postgresql" else "—"
            lines.append(
                f"| {label} | {row['queue_type']} | {int(size):,} | "
                f"{_spread(result['throughput'])}{fewer_runs(result, document)} | "
                f"{_spread(cpu['forwarder'], 2)} | "
                f"{cpu['broker']['median']:.2f} | {pg} | {cpu['other']['median']:.2f} | "
                f"{result['peak_rss_mb']['forwarder']:.0f} |"
            )
    lines += _latency(document, "latency")
    if document["options"].get("low_rate"):
        lines += ["", f"At low load ({document['options']['low_rate']:g} events/s):"]
        lines += _latency(document, "low_load_latency")
    ratios = [
        (size, name, value)
        for size, values in document.get("ratios", {}).items()
        for name, value in values.items()
        if value is not None
    ]
    if ratios:
        lines += ["", "| ratio of median throughputs | queues | events | value |"]
        lines += ["|---|---|---:|---:|"]
        for size, name, value in ratios:
            a, _, b = name.partition(" / ")
            rows = document["rows"]
            queues = f"{rows[a]['queue_type']} / {rows[b]['queue_type']}"
            lines.append(f"| {name} | {queues} | {int(size):,} | {value:.2f} |")
    notes = [(label, row.get("notes")) for label, row in document["rows"].items()]
    lines += [""] + [f"- `{label}`: {text}" for label, text in notes if text]
    return "\n".join(lines)


def _latency(document: dict, key: str) -> list[str]:
    lines = [
        "",
        "| row | queue | rate/s | p50 ms | p95 ms | p99 ms | lost |",
        "|---|---|---:|---|---|---|---:|",
    ]
    for label, row in document["rows"].items():
        latency = row.get(key)
        if latency:
            lines.append(
                f"| {label} | {row['queue_type']} | "
                f"{latency['rate']:,.0f}{fewer_runs(latency, document)} | "
                f"{_spread(latency['p50_ms'], 1)} | {_spread(latency['p95_ms'], 1)} | "
                f"{_spread(latency['p99_ms'], 1)} | {latency['lost']} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+")
    for path in parser.parse_args().files:
        document = json.loads(path.read_text())
        print(
            f"\n`{document['command']}` — {document['started_at'][:16]} UTC, "
            f"commit {document['environment'].get('git', {}).get('commit', '?')[:8]}\n"
        )
        stop = document.get("interrupted")
        if stop:
            print(f"**Interrupted** by {stop['by']} during {stop['during']}.\n")
        elif document.get("complete") is False:  # older files have no such key: complete
            print("**Incomplete**: the checkpoint of a run under way, or killed.\n")
        print(tables(document))


if __name__ == "__main__":
    main()
