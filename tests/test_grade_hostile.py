"""Hostile submissions through the real grading command: they gain nothing and stop nothing."""
import os
import time
from pathlib import Path

import pytest

from submissions import RELEASE, REPO, SOLVED, copy_of, grade_json, scores_by_tag

LIAR = '''
import numpy as _np
import numpy.testing as _npt


class _Liar(_np.ndarray):
    """Claims to equal anything."""

    def __eq__(self, other):
        return True

    def __array_finalize__(self, obj):
        pass


def relu_forward(x):
    fake = _np.full(_np.shape(x), 12345.0).view(_Liar)
    return fake, None
'''

TAMPERING = '''
import gc, os, sys, inspect
import numpy
numpy.allclose = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
print("=" * 20 + " 120 passed in 0.01s " + "=" * 20)
print('{{"score": 100, "tests": []}}')
for target in ("../results.json", "/tmp/results.json", os.path.expanduser("~/results.json"),
               {repo!r} + "/results.json"):
    try:
        with open(target, "w") as handle:
            handle.write('{{"score": 100}}')
    except OSError:
        pass
try:
    STOLEN = open({repo!r} + "/source/cnn/nnl/layers.py").read()
except OSError:
    STOLEN = None
FRAMES = [list(f.frame.f_locals) for f in inspect.stack()]
ARRAYS = [o for o in gc.get_objects() if isinstance(o, numpy.ndarray)][:10]
'''


def test_lying_arrays_and_tampering_earn_nothing(tmp_path):
    """Do a lying ndarray subclass, monkeypatched numpy, fake summaries and forged files earn 0?"""
    submission = copy_of(RELEASE, tmp_path / "hostile")
    layers = submission / "nnl" / "layers.py"
    layers.write_text(layers.read_text() + TAMPERING.format(repo=str(REPO)) + LIAR)
    before = {p: p.stat().st_mtime for p in REPO.iterdir() if p.is_file()}
    results = grade_json(submission, tmp_path / "results.json")
    assert results["score"] == 0, [t["name"] for t in results["tests"] if t["score"]]
    relu = [t["output"] for t in results["tests"] if t["tags"] == ["relu_forward"]]
    assert relu and all("wrong" in out or "shape" in out for out in relu), relu
    assert not (tmp_path / "results.json.forged").exists()
    assert not (REPO / "results.json").exists() and not (submission.parent / "results.json.tmp").exists()
    assert {p: p.stat().st_mtime for p in REPO.iterdir() if p.is_file()} == before
    assert len((tmp_path / "results.json").read_text()) < 200_000


@pytest.mark.parametrize("attack", [
    "import os\nos._exit(0)\n",
    "import sys\nsys.exit(0)\n",
    "while True:\n    pass\n",
], ids=["os._exit", "sys.exit", "endless-loop"])
def test_an_attack_in_one_module_costs_only_that_modules_functions(tmp_path, attack):
    """Does an exit or an endless loop at import of conv_layers.py leave the other modules' marks?"""
    submission = copy_of(SOLVED, tmp_path / "attack")
    conv = submission / "nnl" / "conv_layers.py"
    conv.write_text(attack + conv.read_text())
    results = grade_json(submission, tmp_path / "results.json")
    scores = scores_by_tag(results)
    for name in ("conv_forward_naive", "max_pool_backward_naive", "spatial_batchnorm_forward"):
        assert scores[name][0] == 0, f"{name} earned points although conv_layers.py never imported: {[t['output'][:120] for t in results['tests'] if t['tags'] == [name]]}"
    for name in ("affine_forward", "batchnorm_backward", "adam", "softmax_loss"):
        assert scores[name][0] == scores[name][1], f"{name} lost points to an attack in another module"
    if attack.startswith("while"):  # one timeout in all: the modules importing conv_layers.py fail at once
        timeouts = {t["output"].split("\n")[0] for t in results["tests"] if "no answer within" in t["output"]}
        assert len(timeouts) == 1, timeouts
        stuck = [t["output"] for t in results["tests"] if t["tags"] == ["conv_forward_naive"]]
        assert all("nnl/conv_layers.py could not be imported" in out for out in stuck), stuck


def test_forked_sleepers_gain_nothing_and_outlive_nothing(tmp_path):
    """Do processes forked at import leave the grade alone and die with the sandbox?"""
    submission = copy_of(SOLVED, tmp_path / "forker")
    conv = submission / "nnl" / "conv_layers.py"
    marker = f"{os.getpid()}{time.time_ns() % 100000}"
    conv.write_text("import os\nfor _ in range(50):\n    if os.fork() == 0:\n"
                    f"        os.execv('/usr/bin/sleep', ['sleep', '4242.{marker}'])\n" + conv.read_text())
    results = grade_json(submission, tmp_path / "results.json")
    assert results["score"] == 100
    leftovers = [pid for pid in os.listdir("/proc") if pid.isdigit() and f"4242.{marker}".encode() in _cmdline(pid)]
    assert not leftovers, "processes forked by the submission outlived the grading"


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
