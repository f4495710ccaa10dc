"""Benchmark the conv and max-pool layers: naive vs fast vs PyTorch CPU, with GFLOP/s.

Sizes are the CNN notebook's: N=50 images of 3x32x32, 32 filters of 7x7,
stride 1, pad 3; then 2x2 max pooling with stride 2 on the conv output
(50x32x32x32). Every entry is the median of --repeat timed runs; the
backward passes are timed alone, from a cache made beforehand. The fast layers
and PyTorch are timed in alternating rounds (fast forward and backward, then
PyTorch's), so that a change in the machine's load touches both columns alike;
whenever the library changes there is a pause, so that neither library's idle
worker threads (which spin for a while after a call) take a core from the
other, and one untimed forward and backward, so that the timed calls find the
threads awake and the memory reused, as in a training loop.
PyTorch's forward runs with autograd recording, as in a training step; its
backward is `out.backward(dout)` on a freshly built graph. numpy and PyTorch
get the same number of threads (--threads, default: every core this process
may use), set before either library starts.

The conv forward counts 2*N*F*H'*W'*C*HH*WW floating-point operations and the
backward twice that (dw and dx); the GFLOP/s columns divide those by the times.
numpy's own float32 matrix product, on the forward's matrix shape and on a
square one, is timed in the same run as a ceiling. Prints markdown tables.

    python benchmarks/bench_layers.py --repeat 11

PyTorch is a benchmark-only reference (`pip install .[bench]`); without it the
PyTorch columns say "n/a".
"""
import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from machine import cpu_model, load_average, pin_blas_threads

THREADS = pin_blas_threads(sys.argv[1:])  # before numpy is imported

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "source" / "cnn"))

from nnl.conv_layers import conv_backward_naive, conv_forward_naive, max_pool_backward_naive, max_pool_forward_naive  # noqa: E402
from nnl.fast_layers import conv_backward_fast, conv_forward_fast, max_pool_backward_fast, max_pool_forward_fast  # noqa: E402

try:
    import torch
    import torch.nn.functional as torch_functional
except ImportError:
    torch = None
else:
    torch.set_num_threads(THREADS)

N, C, H, W = 50, 3, 32, 32
F, FILTER_SIZE = 32, 7
CONV_PARAM = {"stride": 1, "pad": 3}
POOL_PARAM = {"pool_height": 2, "pool_width": 2, "stride": 2}
CONV_FORWARD_FLOPS = 2 * N * F * H * W * C * FILTER_SIZE * FILTER_SIZE  # "same" padding: H' = H, W' = W
SWITCH_PAUSE = 0.2  # seconds of rest when the timed library changes
TARGETS = {"conv": 1.5, "max pool": 2.0}  # issue 13: forward + backward at most this many times PyTorch's


def seconds(run, prepare=None):
    """Wall time of one `run(*prepare())`; prepare() is not timed."""
    args = prepare() if prepare is not None else ()
    start = time.perf_counter()
    run(*args)
    return time.perf_counter() - start


def median_seconds(run, repeat, prepare=None):
    """Median wall time of `run(*prepare())` over `repeat` calls."""
    return statistics.median(seconds(run, prepare) for _ in range(repeat))


class NumpyLayer:
    """A numpy forward/backward pair at fixed inputs: one timed call of each on demand."""

    def __init__(self, forward, backward, inputs, param):
        self.call_forward = lambda: forward(*inputs, param)
        self.backward = backward
        out, self.cache = self.call_forward()
        self.dout = np.ones_like(out)

    def call_backward(self):
        return self.backward(self.dout, self.cache)

    def forward_seconds(self):
        return seconds(self.call_forward)

    def backward_seconds(self):
        return seconds(self.call_backward)


class TorchLayer:
    """The same with a torch function; the backward runs autograd on a freshly built graph."""

    def __init__(self, forward, inputs):
        self.forward = forward
        self.tensors = [torch.from_numpy(a).requires_grad_(True) for a in inputs]

    def fresh_graph(self):
        for t in self.tensors:
            t.grad = None
        out = self.forward(*self.tensors)
        return out, torch.ones_like(out)

    def forward_seconds(self):
        return seconds(lambda: self.forward(*self.tensors))

    def backward_seconds(self):
        return seconds(lambda out, dout: out.backward(dout), prepare=self.fresh_graph)


def alternating_medians(layers, repeat):
    """Median (forward, backward) seconds of each layer, timed in rounds that visit every layer once.

    In each round a layer rests first (the other library's worker threads go idle), then runs one
    untimed forward and backward (its own threads wake up and its memory is reused, as in a training
    loop that calls it again and again), then one timed forward and one timed backward.
    """
    times = [([], []) for _ in layers]
    for _ in range(repeat):
        for layer, (forward_times, backward_times) in zip(layers, times):
            time.sleep(SWITCH_PAUSE)
            layer.forward_seconds()
            layer.backward_seconds()
            forward_times.append(layer.forward_seconds())
            backward_times.append(layer.backward_seconds())
    return [(statistics.median(f), statistics.median(b)) for f, b in times]


def matmul_ceiling(repeat):
    """GFLOP/s of numpy's float32 matrix product: on the conv forward's own shape, and 2048 x 2048 x 2048."""
    rng = np.random.default_rng(0)
    rows = C * FILTER_SIZE * FILTER_SIZE
    shapes = {"conv forward's (32 x 147) @ (147 x 51200)": (F, rows, N * H * W),
              "square (2048 x 2048) @ (2048 x 2048)": (2048, 2048, 2048)}
    ceilings = {}
    for name, (m, k, n) in shapes.items():
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        a @ b
        ceilings[name] = 2 * m * k * n / median_seconds(lambda a=a, b=b: a @ b, repeat) / 1e9
    return ceilings


def largest_disagreement(dtype):
    """Relative error between fast and naive on the benchmark's conv input (a sanity check, not a test)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, FILTER_SIZE, FILTER_SIZE)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    fast, _ = conv_forward_fast(x, w, b, CONV_PARAM)
    naive, _ = conv_forward_naive(x, w, b, CONV_PARAM)
    return float(np.max(np.abs(fast - naive)) / np.max(np.abs(naive)))


def numpy_blas():
    """Name and version of the BLAS numpy was built with."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas['version']}"
    except (KeyError, TypeError, AttributeError):  # numpy's build information is not a stable API
        return "unknown BLAS"


def machine_line():
    torch_version = torch.__version__ if torch is not None else "not installed"
    torch_threads = torch.get_num_threads() if torch is not None else "-"
    return (f"Machine: {cpu_model()} ({platform.machine()}), {len(os.sched_getaffinity(0))} cores (nproc); "
            f"Python {platform.python_version()}, numpy {np.__version__} ({numpy_blas()}, "
            f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}), torch {torch_version} "
            f"(threads: {torch_threads})")


def ms(value):
    return "n/a" if value is None else f"{value * 1000:.1f}"


def times(slow, fast):
    return "n/a" if slow is None or fast is None else f"{slow / fast:.1f}x"


def gflops(flops, value):
    return "-" if flops is None or value is None else f"{flops / value / 1e9:.0f}"


def pass_seconds(columns, column, index):
    """Seconds of pass `index` (0 forward, 1 backward, 2 both) in a column, None where it was not timed."""
    forward, backward = columns.get(column, (None, None))
    if forward is None:
        return None
    return forward + backward if index == 2 else (forward, backward)[index]


def load_baseline(path):
    """The four fast functions of another fast_layers.py (an older version, say), loaded from its file."""
    spec = importlib.util.spec_from_file_location("baseline_fast_layers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"conv": (module.conv_forward_fast, module.conv_backward_fast),
            "max pool": (module.max_pool_forward_fast, module.max_pool_backward_fast)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed runs per fast, baseline and PyTorch entry; the median is reported")
    parser.add_argument("--naive-repeat", type=int, default=3,
                        help="timed runs per naive entry (the naive layers take seconds)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="array dtype (the CNN notebook's network is float32)")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="threads for numpy's BLAS and for PyTorch (default: every core this process may use)")
    parser.add_argument("--baseline", type=Path, metavar="FAST_LAYERS_PY",
                        help="another fast_layers.py to time in the same rounds, as a 'baseline' column "
                             "(e.g. `git show HEAD~1:source/cnn/nnl/fast_layers.py > /tmp/old_fast_layers.py`)")
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype)
    baseline = load_baseline(args.baseline) if args.baseline is not None else None
    load_before = load_average()

    rng = np.random.default_rng(231)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = (1e-2 * rng.standard_normal((F, C, FILTER_SIZE, FILTER_SIZE))).astype(dtype)
    b = np.zeros(F, dtype=dtype)
    conv_out, _ = conv_forward_fast(x, w, b, CONV_PARAM)
    pool_in = np.maximum(conv_out, 0)  # the pooling layer's input in the network, after the ReLU: (N, F, H, W)

    pad = CONV_PARAM["pad"]
    layers = {
        "conv": ((conv_forward_naive, conv_backward_naive), (conv_forward_fast, conv_backward_fast),
                 (x, w, b), CONV_PARAM,
                 lambda tx, tw, tb: torch_functional.conv2d(tx, tw, tb, stride=1, padding=pad)),
        "max pool": ((max_pool_forward_naive, max_pool_backward_naive), (max_pool_forward_fast, max_pool_backward_fast),
                     (pool_in,), POOL_PARAM,
                     lambda t: torch_functional.max_pool2d(t, kernel_size=2, stride=2)),
    }
    results = {}  # layer -> {column: (forward seconds, backward seconds)}
    for name, (naive_pair, fast_pair, inputs, param, torch_forward) in layers.items():
        naive = NumpyLayer(*naive_pair, inputs, param)
        columns = {"naive": (median_seconds(naive.call_forward, args.naive_repeat),
                             median_seconds(naive.call_backward, args.naive_repeat))}
        timed = {"fast": NumpyLayer(*fast_pair, inputs, param)}
        if baseline is not None:
            timed["baseline"] = NumpyLayer(*baseline[name], inputs, param)
        if torch is not None:
            timed["PyTorch"] = TorchLayer(torch_forward, inputs)
        columns.update(zip(timed, alternating_medians(list(timed.values()), args.repeat)))
        results[name] = columns
    ceilings = matmul_ceiling(args.repeat)

    print(machine_line())
    print(f"Sizes: x ({N}, {C}, {H}, {W}), w ({F}, {C}, {FILTER_SIZE}, {FILTER_SIZE}), pad {pad}; pool 2x2 stride 2 "
          f"on the ReLU of the conv output; {dtype}; median of {args.repeat} alternating rounds "
          f"(naive: {args.naive_repeat} runs); times in ms")
    if baseline is not None:
        print(f"baseline: {args.baseline}")
    print(f"Load average (1, 5, 15 min) before: {load_before}; after: {load_average()}")
    print(f"Fast vs naive conv forward, largest relative difference: {largest_disagreement(dtype):.1e}")
    print()
    names = ["naive"] + (["baseline"] if baseline is not None else []) + ["fast", "PyTorch"]
    ratios = [("naive", "fast")] + ([("baseline", "fast")] if baseline is not None else []) + [("fast", "PyTorch")]
    header = ([f"{'PyTorch CPU' if n == 'PyTorch' else n} (ms)" for n in names] + [f"{a} / {b}" for a, b in ratios]
              + ["fast GFLOP/s", "PyTorch GFLOP/s"])
    print("| layer | pass | " + " | ".join(header) + " |")
    print("| --- | --- |" + " ---: |" * len(header))
    verdicts = []
    for name, columns in results.items():
        flops = (CONV_FORWARD_FLOPS, 2 * CONV_FORWARD_FLOPS, 3 * CONV_FORWARD_FLOPS) if name == "conv" else (None,) * 3
        for index, direction in enumerate(("forward", "backward", "forward + backward")):
            row = {column: pass_seconds(columns, column, index) for column in names}
            cells = ([ms(row[n]) for n in names] + [times(row[a], row[b]) for a, b in ratios]
                     + [gflops(flops[index], row["fast"]), gflops(flops[index], row["PyTorch"])])
            print(f"| {name} | {direction} | " + " | ".join(cells) + " |")
        if "PyTorch" in columns:
            ratio = sum(columns["fast"]) / sum(columns["PyTorch"])
            verdict = "met" if ratio <= TARGETS[name] else "NOT met"
            verdicts.append(f"{name} forward + backward: {ratio:.2f}x PyTorch (target at most {TARGETS[name]}x): "
                            f"{verdict}")
    print()
    print("| numpy float32 matrix product | GFLOP/s |")
    print("| --- | ---: |")
    for name, value in ceilings.items():
        print(f"| {name} | {value:.0f} |")
    if verdicts:
        print()
        for line in verdicts:
            print(line)


if __name__ == "__main__":
    main()
