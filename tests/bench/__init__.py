import sys

# `python -m bench` at its smallest: no history, half-second latency windows, no warm-up;
# a test adds its rows, sizes, runs and output folder.
TINY_BENCH = [
    sys.executable,
    "-m",
    "bench",
    "--history-rows",
    "0",
    "--latency-seconds",
    "0.5",
    "--warmup-seconds",
    "0",
]
