"""Benchmark the grading sandbox (`autograder.sandbox.sandbox.Sandbox`): what isolation costs per submission.

Measures, for bubblewrap and for the rlimits-only fallback:

* start-up: `Sandbox(...)` + `start()` (copy the submission, launch the worker, import numpy)
  up to the first successful call (`nnl.layers.relu_forward` on a (10, 10) array);
* a small call round trip: `relu_forward` on a (10, 10) array, in a warm sandbox;
* `call_many`: the same function over --items argument tuples in one request, per item;
* a realistic call: `nnl.conv_layers.conv_forward_naive` at N=2, 3x8x8, 4 filters 3x3,
  stride 1, pad 1, through the sandbox and imported directly in-process from `source/cnn`,
  the two timed in the same runs (the ratio is the sandbox's overhead);
* close: `Sandbox.close()` (kill the worker, check for leftovers, remove the copy).

Every entry is the median of --repeat timed runs; the per-call entries time --calls calls
per run and divide. Prints a markdown table.

    python benchmarks/bench_sandbox.py --repeat 7

The sandboxed submission is the solved assignment folder `solutions_private/cnn`.
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "source" / "cnn"))

from autograder.sandbox.sandbox import Sandbox  # noqa: E402
from nnl.conv_layers import conv_forward_naive  # noqa: E402

SUBMISSION = ROOT / "solutions_private" / "cnn"
CONV_PARAM = {"stride": 1, "pad": 1}
MODES = (("bubblewrap", True), ("rlimits-only", False))


def median(values):
    return statistics.median(values)


def conv_inputs(rng):
    """x (2, 3, 8, 8), w (4, 3, 3, 3), b (4,): the realistic call's inputs."""
    x = rng.standard_normal((2, 3, 8, 8))  # (N, C, H, W)
    w = rng.standard_normal((4, 3, 3, 3))  # (F, C, HH, WW)
    b = rng.standard_normal(4)  # (F,)
    return x, w, b


def per_call_seconds(run, calls):
    """Wall time of `calls` consecutive `run()` divided by `calls`."""
    start = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - start) / calls


def startup_and_close(use_bwrap, small, repeat):
    """Median start-up-to-first-call and close seconds; also the isolation string reported."""
    starts, closes, isolation = [], [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        sandbox = Sandbox(SUBMISSION, use_bwrap=use_bwrap)
        sandbox.start()
        sandbox.call("nnl.layers", "relu_forward", small)
        starts.append(time.perf_counter() - start)
        isolation = sandbox.isolation
        start = time.perf_counter()
        sandbox.close()
        closes.append(time.perf_counter() - start)
    return median(starts), median(closes), isolation


def warm_timings(use_bwrap, small, conv, items, calls, repeat):
    """Median per-call seconds in one warm sandbox, as a dict.

    Keys: ``small`` (one call), ``many`` (call_many, per item), ``conv`` (the conv call) and
    ``direct`` (the same conv imported in-process, timed in the same runs so both see the same load).
    """
    x, w, b = conv
    batch = [(small + i,) for i in range(items)]
    times = {"small": [], "many": [], "conv": [], "direct": []}
    with Sandbox(SUBMISSION, use_bwrap=use_bwrap) as sandbox:
        run_small = lambda: sandbox.call("nnl.layers", "relu_forward", small)  # noqa: E731
        run_conv = lambda: sandbox.call("nnl.conv_layers", "conv_forward_naive", x, w, b, CONV_PARAM)  # noqa: E731
        run_direct = lambda: conv_forward_naive(x, w, b, CONV_PARAM)  # noqa: E731
        run_small()
        run_conv()
        run_direct()
        check = sandbox.call_many("nnl.layers", "relu_forward", batch[:3])
        assert len(check) == 3 and np.allclose(check[2][0], np.maximum(small + 2, 0))
        for _ in range(repeat):
            times["small"].append(per_call_seconds(run_small, calls))
            start = time.perf_counter()
            sandbox.call_many("nnl.layers", "relu_forward", batch)
            times["many"].append((time.perf_counter() - start) / items)
            times["conv"].append(per_call_seconds(run_conv, calls))
            times["direct"].append(per_call_seconds(run_direct, calls))
        sandboxed_out = run_conv()[0]
    assert np.allclose(sandboxed_out, run_direct()[0]), "sandboxed and direct conv_forward_naive disagree"
    return {key: median(values) for key, values in times.items()}


def machine_line():
    try:
        bwrap = subprocess.run(["bwrap", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        bwrap = "bwrap not installed"
    return (f"Machine: {platform.machine()}, {os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), "
            f"Python {platform.python_version()}, numpy {np.__version__}, {bwrap or 'bwrap: unknown version'}")


def fmt_ms(seconds):
    milliseconds = seconds * 1e3
    return f"{milliseconds:.3f}" if milliseconds < 1 else f"{milliseconds:.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per entry; the median is reported")
    parser.add_argument("--calls", type=int, default=50, help="calls per timed run of the per-call entries")
    parser.add_argument("--items", type=int, default=200, help="argument tuples in the call_many request")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    small = rng.standard_normal((10, 10))
    conv = conv_inputs(rng)

    results = {}
    for label, use_bwrap in MODES:
        startup, close, isolation = startup_and_close(use_bwrap, small, args.repeat)
        results[label] = warm_timings(use_bwrap, small, conv, args.items, args.calls, args.repeat)
        results[label].update(startup=startup, close=close, isolation=isolation)

    print(machine_line())
    print(f"Submission: {SUBMISSION.relative_to(ROOT)}; median of {args.repeat} runs; per-call entries time "
          f"{args.calls} calls per run; call_many: {args.items} items; times in ms")
    for label, _ in MODES:
        print(f"Isolation reported ({label}): {results[label]['isolation']}")
    bw, rl = results["bubblewrap"], results["rlimits-only"]
    rows = [
        ("start-up to first successful call", bw["startup"], rl["startup"], None),
        ("small call round trip: relu_forward (10, 10)", bw["small"], rl["small"], None),
        (f"call_many, per item ({args.items} x relu_forward (10, 10))", bw["many"], rl["many"], None),
        ("conv_forward_naive N=2, 3x8x8, 4 filters 3x3", bw["conv"], rl["conv"], (bw["direct"], rl["direct"])),
        ("close (kill worker, leftover check, remove copy)", bw["close"], rl["close"], None),
    ]
    print("In-process: conv_forward_naive imported from source/cnn, timed in the same runs as the bubblewrap "
          "/ rlimits-only calls (two numbers).")
    print()
    print("| measurement | bubblewrap (ms) | rlimits-only (ms) | in-process (ms) "
          "| bubblewrap / in-process | rlimits-only / in-process |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, bw_time, rl_time, direct_times in rows:
        if direct_times is None:
            cells = ["-", "-", "-"]
        else:
            bw_direct, rl_direct = direct_times
            cells = [f"{fmt_ms(bw_direct)} / {fmt_ms(rl_direct)}", f"{bw_time / bw_direct:.1f}x",
                     f"{rl_time / rl_direct:.1f}x"]
        print(f"| {name} | {fmt_ms(bw_time)} | {fmt_ms(rl_time)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
