"""Benchmark the conv and max-pool layers: naive vs fast (vs PyTorch CPU, when it imports).

Sizes are the CNN notebook's: N=50 images of 3x32x32, 32 filters of 7x7,
stride 1, pad 3; then 2x2 max pooling with stride 2 on the conv output
(50x32x32x32). Every entry is the median of --repeat timed runs; the
backward passes are timed alone, from a cache made beforehand. Prints a
markdown table.

    python benchmarks/bench_layers.py --repeat 5

PyTorch is a benchmark-only reference (`pip install .[bench]`); without it the
PyTorch columns say "n/a".
"""
import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "source" / "cnn"))

from nnl.conv_layers import conv_backward_naive, conv_forward_naive, max_pool_backward_naive, max_pool_forward_naive  # noqa: E402
from nnl.fast_layers import conv_backward_fast, conv_forward_fast, max_pool_backward_fast, max_pool_forward_fast  # noqa: E402

try:
    import torch
    import torch.nn.functional as torch_functional
except ImportError:
    torch = None

N, C, H, W = 50, 3, 32, 32
F, FILTER_SIZE = 32, 7
CONV_PARAM = {"stride": 1, "pad": 3}
POOL_PARAM = {"pool_height": 2, "pool_width": 2, "stride": 2}


def median_seconds(run, repeat, prepare=None):
    """Median wall time of `run(*prepare())` over `repeat` calls; prepare() is not timed."""
    times = []
    for _ in range(repeat):
        args = prepare() if prepare is not None else ()
        start = time.perf_counter()
        run(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def numpy_timings(forward, backward, inputs, param, repeat):
    """(forward seconds, backward seconds) of one numpy layer pair."""
    out, cache = forward(*inputs, param)
    dout = np.ones_like(out)
    forward_time = median_seconds(lambda: forward(*inputs, param), repeat)
    backward_time = median_seconds(lambda: backward(dout, cache), repeat)
    return forward_time, backward_time


def torch_timings(forward, inputs, repeat):
    """(forward seconds, backward seconds) of a torch function; backward runs autograd on a fresh graph."""
    tensors = [torch.from_numpy(a).requires_grad_(True) for a in inputs]

    def fresh_graph():
        for t in tensors:
            t.grad = None
        out = forward(*tensors)
        return out, torch.ones_like(out)

    with torch.no_grad():
        forward_time = median_seconds(lambda: forward(*tensors), repeat)
    backward_time = median_seconds(lambda out, dout: out.backward(dout), repeat, prepare=fresh_graph)
    return forward_time, backward_time


def largest_disagreement(dtype):
    """Relative error between fast and naive on the benchmark's conv input (a sanity check, not a test)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, FILTER_SIZE, FILTER_SIZE)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    fast, _ = conv_forward_fast(x, w, b, CONV_PARAM)
    naive, _ = conv_forward_naive(x, w, b, CONV_PARAM)
    return float(np.max(np.abs(fast - naive)) / np.max(np.abs(naive)))


def cell(seconds):
    return "n/a" if seconds is None else f"{seconds * 1000:.1f}"


def ratio(slow, fast):
    return "n/a" if slow is None or fast is None else f"{slow / fast:.1f}x"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per entry; the median is reported")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="array dtype (the CNN notebook trains in float32)")
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype)

    rng = np.random.default_rng(231)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = (1e-2 * rng.standard_normal((F, C, FILTER_SIZE, FILTER_SIZE))).astype(dtype)
    b = np.zeros(F, dtype=dtype)
    conv_out, _ = conv_forward_fast(x, w, b, CONV_PARAM)  # the pooling layer's input, (N, F, H, W)

    rows = []
    conv_inputs = (x, w, b)
    naive = numpy_timings(conv_forward_naive, conv_backward_naive, conv_inputs, CONV_PARAM, args.repeat)
    fast = numpy_timings(conv_forward_fast, conv_backward_fast, conv_inputs, CONV_PARAM, args.repeat)
    reference = (None, None)
    if torch is not None:
        pad = CONV_PARAM["pad"]
        reference = torch_timings(lambda tx, tw, tb: torch_functional.conv2d(tx, tw, tb, stride=1, padding=pad),
                                  conv_inputs, args.repeat)
    rows.append(("conv 7x7, 32 filters, pad 3", naive, fast, reference))

    naive = numpy_timings(max_pool_forward_naive, max_pool_backward_naive, (conv_out,), POOL_PARAM, args.repeat)
    fast = numpy_timings(max_pool_forward_fast, max_pool_backward_fast, (conv_out,), POOL_PARAM, args.repeat)
    reference = (None, None)
    if torch is not None:
        reference = torch_timings(lambda t: torch_functional.max_pool2d(t, kernel_size=2, stride=2),
                                  (conv_out,), args.repeat)
    rows.append(("max pool 2x2, stride 2", naive, fast, reference))

    torch_version = torch.__version__ if torch is not None else "not installed"
    torch_threads = torch.get_num_threads() if torch is not None else "-"
    cores = len(os.sched_getaffinity(0))  # what nproc reports
    print(f"Machine: {platform.machine()}, {cores} cores (nproc), Python {platform.python_version()}, "
          f"numpy {np.__version__}, torch {torch_version} (threads: {torch_threads})")
    print(f"Sizes: x ({N}, {C}, {H}, {W}), w ({F}, {C}, {FILTER_SIZE}, {FILTER_SIZE}), {dtype}; "
          f"median of {args.repeat} runs; times in ms")
    print(f"Fast vs naive conv forward, largest relative difference: {largest_disagreement(dtype):.1e}")
    print()
    print("| layer | pass | naive (ms) | fast (ms) | PyTorch CPU (ms) | naive / fast | fast / PyTorch |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, naive, fast, reference in rows:
        for index, direction in enumerate(("forward", "backward")):
            print(f"| {name} | {direction} | {cell(naive[index])} | {cell(fast[index])} | {cell(reference[index])} "
                  f"| {ratio(naive[index], fast[index])} | {ratio(fast[index], reference[index])} |")


if __name__ == "__main__":
    main()
