"""Benchmark one training epoch of the CNN notebook's network: the course's Solver vs PyTorch CPU.

What a student waits for when running the training cell of `source/cnn/CNN.ipynb`:
`ThreeLayerConvNet(weight_scale=0.001, hidden_dim=500, reg=0.001)` trained by
`utils/solver.py`'s `Solver` for one epoch (batches of 50, Adam with learning
rate 1e-3), with the notebook's layers (the reference solution of `nnl/`, whose
conv - relu - pool block runs on the provided `nnl/fast_layers.py`). The data
are a generated CIFAR-10-format set (`autograder/demo/fake_cifar.py`) loaded by
`utils/data_utils.get_CIFAR10_data`, as the notebook loads the real one:
--images training images and the loader's 1,000 validation images.

`Solver.train()` is timed whole: the minibatch steps (each draws 50 images with
replacement) and the accuracy checks before and after the epoch (1,000 random
training images and the validation set, in batches of 100). The PyTorch
version does the same work in the same order: the same network (conv 7x7 with
32 filters and pad 3, ReLU, 2x2 max pool, affine to 500, ReLU, affine to 10,
softmax loss plus 0.5 * reg * sum(W**2) over the three weights), the same
initialisation scale, `torch.optim.Adam` with the course's defaults
(betas 0.9 and 0.999, eps 1e-8, added to the root of the second moment), the
same minibatches and checks, and a copy of the parameters at each check (the
Solver keeps the best ones).

`get_CIFAR10_data` returns float64 images; the network's parameters start as
float32 but numpy promotes the first float64 products, and Adam's update
returns float64 parameters from then on: the notebook as written trains in
float64. Rows: the Solver on the data as loaded (what students get), on the
same data cast to float32 once (the network's own dtype), and PyTorch in
float32 and float64. Every variant runs once per round, rounds alternate
(with a pause whenever the variant changes) and the median of --repeat rounds
is reported. numpy's BLAS and PyTorch get the same number of threads
(--threads, default: every core this process may use), set before either
library starts.

    python benchmarks/bench_training.py --repeat 3

PyTorch is a benchmark-only reference (`pip install .[bench]`).
"""
import argparse
import cProfile
import json
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model, load_average, pin_blas_threads

THREADS = pin_blas_threads(sys.argv[1:])  # before numpy is imported

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "source" / "cnn" / "CNN.ipynb"
sys.path[:0] = [str(REPO / "source" / "cnn"), str(REPO)]

from autograder.demo.fake_cifar import NUM_TRAIN_BATCHES, write_fake_cifar10  # noqa: E402
from nnl.cnn import ThreeLayerConvNet  # noqa: E402
from utils.data_utils import get_CIFAR10_data  # noqa: E402
from utils.solver import Solver  # noqa: E402

try:
    import torch
    import torch.nn.functional as torch_functional
except ImportError:
    torch = None
else:
    torch.set_num_threads(THREADS)

# The training cell of CNN.ipynb; checked against the notebook at start, so the benchmark cannot drift from it.
MODEL_SETTINGS = {"weight_scale": 0.001, "hidden_dim": 500, "reg": 0.001}
SOLVER_SETTINGS = {"num_epochs": 1, "batch_size": 50, "update_rule": "adam", "optim_config": {"learning_rate": 1e-3}}
NOTEBOOK_TEXT = ("ThreeLayerConvNet(weight_scale=0.001, hidden_dim=500, reg=0.001)",
                 "num_epochs=1, batch_size=50", "update_rule='adam'", "optim_config={'learning_rate': 1e-3}")
SEED = 231  # the notebook's np.random.seed(231)
NUM_VALIDATION = 1000  # get_CIFAR10_data's default, which the notebook uses
SWITCH_PAUSE = 0.5  # seconds of rest between variants, so no library's spinning worker threads take a core
TARGET = 2.0  # issue 13: one epoch at most this many times PyTorch's


def check_notebook_settings():
    """Stop when the notebook's training cell no longer uses the settings this benchmark copies."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    training = ["".join(cell["source"]) for cell in cells if "solver.train()" in "".join(cell["source"])]
    training = [source for source in training if "num_epochs=1" in source]
    missing = [text for text in NOTEBOOK_TEXT if not any(text in source for source in training)]
    if missing:
        sys.exit(f"{NOTEBOOK.relative_to(REPO)}'s one-epoch training cell no longer contains {missing}: "
                 "update MODEL_SETTINGS and SOLVER_SETTINGS in this benchmark")


def load_data(folder, num_training):
    """The notebook's data dictionary, from a generated CIFAR-10-format set of num_training + 1,000 images."""
    per_batch = -(-(num_training + NUM_VALIDATION) // NUM_TRAIN_BATCHES)  # ceiling division
    root = write_fake_cifar10(folder, images_per_batch=per_batch, test_images=100, seed=0)
    return get_CIFAR10_data(num_training=num_training, num_validation=NUM_VALIDATION, cifar10_dir=str(root))


def solver_epoch(data):
    """Seconds of one Solver.train() epoch, as the notebook runs it, and (dtype of W1 after, final val accuracy)."""
    np.random.seed(SEED)
    model = ThreeLayerConvNet(**MODEL_SETTINGS)
    solver = Solver(model, data, verbose=False, **SOLVER_SETTINGS)
    start = time.perf_counter()
    solver.train()
    elapsed = time.perf_counter() - start
    return elapsed, f"W1 {model.params['W1'].dtype}, val acc {solver.val_acc_history[-1]:.3f}"


class TorchNet(torch.nn.Module if torch is not None else object):
    """conv - relu - 2x2 max pool - affine - relu - affine, initialised as ThreeLayerConvNet is."""

    def __init__(self, dtype, num_filters=32, filter_size=7, hidden_dim=100, num_classes=10, weight_scale=1e-3):
        super().__init__()
        pooled_features = num_filters * 16 * 16

        def weight(*shape):
            return torch.nn.Parameter(weight_scale * torch.randn(*shape, dtype=dtype))

        def bias(size):
            return torch.nn.Parameter(torch.zeros(size, dtype=dtype))

        self.W1, self.b1 = weight(num_filters, 3, filter_size, filter_size), bias(num_filters)
        self.W2, self.b2 = weight(hidden_dim, pooled_features), bias(hidden_dim)
        self.W3, self.b3 = weight(num_classes, hidden_dim), bias(num_classes)
        self.pad = (filter_size - 1) // 2

    def forward(self, X):
        conv = torch_functional.conv2d(X, self.W1, self.b1, stride=1, padding=self.pad)
        pooled = torch_functional.max_pool2d(torch.relu(conv), kernel_size=2, stride=2)
        hidden = torch.relu(torch_functional.linear(pooled.flatten(1), self.W2, self.b2))
        return torch_functional.linear(hidden, self.W3, self.b3)


def torch_epoch(data, dtype):
    """Seconds of the same epoch in PyTorch: same steps, same accuracy checks, same parameter copies."""
    X_train = torch.from_numpy(data["X_train"]).to(dtype)
    X_val = torch.from_numpy(data["X_val"]).to(dtype)
    y_train = torch.from_numpy(data["y_train"])
    y_val = torch.from_numpy(data["y_val"])
    num_train = X_train.shape[0]
    batch_size = SOLVER_SETTINGS["batch_size"]
    reg = MODEL_SETTINGS["reg"]

    np.random.seed(SEED)
    torch.manual_seed(SEED)
    model = TorchNet(dtype, hidden_dim=MODEL_SETTINGS["hidden_dim"], weight_scale=MODEL_SETTINGS["weight_scale"])
    optimizer = torch.optim.Adam(model.parameters(), lr=SOLVER_SETTINGS["optim_config"]["learning_rate"],
                                 betas=(0.9, 0.999), eps=1e-8)

    def accuracy(X, y, num_samples=None):
        if num_samples is not None and X.shape[0] > num_samples:
            mask = torch.from_numpy(np.random.choice(X.shape[0], num_samples, replace=False))
            X, y = X[mask], y[mask]
        with torch.no_grad():
            predictions = torch.cat([model(X[i:i + 100]).argmax(dim=1) for i in range(0, X.shape[0], 100)])
        return float((predictions == y).double().mean())

    def record_accuracy(best):
        accuracy(X_train, y_train, num_samples=1000)
        val_acc = accuracy(X_val, y_val)
        if best is None or val_acc > best[0]:
            best = (val_acc, {name: p.detach().clone() for name, p in model.named_parameters()})
        return best, val_acc

    start = time.perf_counter()
    best, _ = record_accuracy(None)
    losses = []
    for _ in range(max(num_train // batch_size, 1)):
        batch = torch.from_numpy(np.random.choice(num_train, batch_size))
        scores = model(X_train[batch])
        weights = model.W1.square().sum() + model.W2.square().sum() + model.W3.square().sum()
        loss = torch_functional.cross_entropy(scores, y_train[batch]) + 0.5 * reg * weights
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    best, val_acc = record_accuracy(best)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(best[1][name])
    elapsed = time.perf_counter() - start
    return elapsed, f"W1 {model.W1.dtype}, val acc {val_acc:.3f}"


# where an epoch's time goes: the functions whose cumulative time the breakdown reports
BREAKDOWN = {
    "conv (fast_layers)": ("fast_layers.py", ("conv_forward_fast", "conv_backward_fast")),
    "max pool (fast_layers)": ("fast_layers.py", ("max_pool_forward_fast", "max_pool_backward_fast")),
    "Adam (optim.py)": ("optim.py", ("adam",)),
}


def epoch_breakdown(data):
    """One more Solver epoch under cProfile: its seconds and the seconds spent in each BREAKDOWN entry."""
    profiler = cProfile.Profile()
    profiler.enable()
    elapsed, _ = solver_epoch(data)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, function): (calls, primitive calls, own, cumulative, ...)}
    spent = {}
    for part, (filename, functions) in BREAKDOWN.items():
        spent[part] = sum(entry[3] for (file, _, function), entry in stats.items()
                          if file.endswith(filename) and function in functions)
    return elapsed, spent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=4900, help="training images (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median epoch is reported")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="threads for numpy's BLAS and for PyTorch (default: every core this process may use)")
    parser.add_argument("--no-breakdown", action="store_true",
                        help="skip the two extra Solver epochs under cProfile that say where the time goes")
    args = parser.parse_args(argv)
    if torch is None:
        sys.exit("PyTorch is not installed: pip install torch==2.13.0 (benchmark-only)")
    check_notebook_settings()
    load_before = load_average()

    with tempfile.TemporaryDirectory() as folder:
        data = load_data(folder, args.images)
    data32 = dict(data, X_train=data["X_train"].astype(np.float32), X_val=data["X_val"].astype(np.float32))
    variants = {
        "Solver + nnl, data as get_CIFAR10_data returns it (float64): the notebook": lambda: solver_epoch(data),
        "Solver + nnl, data cast to float32 once": lambda: solver_epoch(data32),
        "PyTorch CPU, float32": lambda: torch_epoch(data, torch.float32),
        "PyTorch CPU, float64": lambda: torch_epoch(data, torch.float64),
    }
    epochs = {name: [] for name in variants}
    notes = {}
    for _ in range(args.repeat):
        for name, run in variants.items():
            time.sleep(SWITCH_PAUSE)
            elapsed, notes[name] = run()
            epochs[name].append(elapsed)
    median = {name: statistics.median(times) for name, times in epochs.items()}
    numpy_variants = {name: numpy_data for name, numpy_data in zip(variants, (data, data32))}
    breakdowns = {} if args.no_breakdown else {name: epoch_breakdown(d) for name, d in numpy_variants.items()}

    iterations = max(args.images // SOLVER_SETTINGS["batch_size"], 1)
    print(f"Machine: {cpu_model()} ({platform.machine()}), {len(os.sched_getaffinity(0))} cores (nproc); "
          f"Python {platform.python_version()}, numpy {np.__version__} "
          f"(OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}), torch {torch.__version__} "
          f"(threads: {torch.get_num_threads()})")
    print(f"One epoch: {args.images} training images (generated CIFAR-10 format), {iterations} steps of "
          f"{SOLVER_SETTINGS['batch_size']}, accuracy checked before and after on 1000 training and "
          f"{NUM_VALIDATION} validation images; median of {args.repeat} alternating rounds")
    print(f"Load average (1, 5, 15 min) before: {load_before}; after: {load_average()}")
    print()
    print("| how | epoch (s) | epoch / steps (ms) | vs PyTorch float32 | vs PyTorch float64 | after the epoch |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    torch32 = median["PyTorch CPU, float32"]
    torch64 = median["PyTorch CPU, float64"]
    for name, seconds in median.items():
        print(f"| {name} | {seconds:.2f} | {seconds / iterations * 1000:.0f} | {seconds / torch32:.2f}x "
              f"| {seconds / torch64:.2f}x | {notes[name]} |")
    if breakdowns:
        print()
        print("Where a Solver epoch goes (one more epoch each, under cProfile, which adds a little):")
        print()
        print("| how | epoch (s) | " + " | ".join(BREAKDOWN) + " | everything else |")
        print("| --- | ---: |" + " ---: |" * (len(BREAKDOWN) + 1))
        for name, (seconds, spent) in breakdowns.items():
            parts = [f"{spent[part]:.2f} s ({spent[part] / seconds:.0%})" for part in BREAKDOWN]
            rest = seconds - sum(spent.values())
            print(f"| {name} | {seconds:.2f} | " + " | ".join(parts) + f" | {rest:.2f} s ({rest / seconds:.0%}) |")
    print()
    for name in numpy_variants:
        ratio = median[name] / torch32
        print(f"{name}: {ratio:.2f}x PyTorch float32 (target at most {TARGET}x): "
              f"{'met' if ratio <= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
