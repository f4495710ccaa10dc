"""The sandboxed worker: student code is called only through it, and nothing it does escapes.

Each hostile case is a tiny submission written by the test into a temporary
folder, the way a student would hand it in.
"""
import os
import shutil
import socket
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from autograder.grading.student import describe
from autograder.sandbox import sandbox as sandbox_module
from autograder.sandbox.sandbox import (ALLOW_FALLBACK_ENV, LEGACY_ALLOW_FALLBACK_ENV, REFERENCE_CACHE_PART, Handle, Limits,
                                        Sandbox, SandboxUnavailable, StudentError)
from submissions import marked_processes

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_NNL = REPO_ROOT / "source" / "cnn" / "nnl"
HAVE_BWRAP = shutil.which("bwrap") is not None
FAST = Limits(memory_mb=1024, cpu_seconds=30, call_timeout=5, max_output_kb=4, max_processes=16, max_file_mb=4)


def write_submission(root: Path, modules: dict, with_reference: bool = False) -> Path:
    """Write an assignment folder: optionally the reference nnl/, then ``modules`` (path -> source)."""
    if with_reference:
        shutil.copytree(REFERENCE_NNL, root / "nnl", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "nnl").mkdir(parents=True, exist_ok=True)
    (root / "nnl" / "__init__.py").touch()
    for relative, source in modules.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return root


def snapshot(root: Path) -> dict:
    """Every file under ``root`` with its bytes (to prove nothing changed)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(params=["bubblewrap", "rlimits-only"])
def isolation(request):
    """Both isolation modes; bubblewrap only where it is installed."""
    if request.param == "bubblewrap" and not HAVE_BWRAP:
        pytest.skip("bubblewrap is not installed")
    return request.param


def open_sandbox(path: Path, isolation: str = "bubblewrap", limits: Limits = FAST) -> Sandbox:
    if isolation == "bubblewrap" and not HAVE_BWRAP:
        pytest.skip("bubblewrap is not installed")
    return Sandbox(path, limits=limits, use_bwrap=isolation == "bubblewrap")


@pytest.fixture
def reference_submission(tmp_path):
    return write_submission(tmp_path / "student", {}, with_reference=True)


# ------------------------------------------------------------------------- normal use

def test_conv_forward_and_backward_round_trip_the_cache_as_a_handle(reference_submission, isolation, rng):
    """Do results come back as plain float64 arrays, and does the cache go back intact?"""
    from nnl.conv_layers import conv_backward_naive, conv_forward_naive

    x, w, b = rng.standard_normal((2, 3, 5, 6)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    dout_shape = conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})[0].shape
    dout = rng.standard_normal(dout_shape)
    with open_sandbox(reference_submission, isolation) as sb:
        out, cache = sb.call("nnl.conv_layers", "conv_forward_naive", x, w, b, {"stride": 1, "pad": 1})
        dx, dw, db = sb.call("nnl.conv_layers", "conv_backward_naive", dout, cache)
    expected_out, expected_cache = conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
    for got, want in zip((out, dx, dw, db), (expected_out, *conv_backward_naive(dout, expected_cache))):
        assert type(got) is np.ndarray and got.dtype == np.float64, f"got {type(got)} of {got.dtype}"
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg="the sandbox changed a value")


def test_model_is_a_handle_with_readable_params_and_a_loss_method(reference_submission, rng):
    """Does a class come back as a Handle whose attributes and methods are reachable?"""
    with open_sandbox(reference_submission) as sb:
        model = sb.call("nnl.cnn", "ThreeLayerConvNet", input_dim=(3, 8, 8), hidden_dim=7, dtype=np.float64)
        params = sb.getattr(model, "params")
        loss, grads = sb.call_method(model, "loss", rng.standard_normal((2, 3, 8, 8)), np.array([1, 2]))
    assert isinstance(model, Handle) and model.type_name == "ThreeLayerConvNet"
    assert sorted(params) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    assert all(type(v) is np.ndarray and v.dtype == np.float64 for v in params.values())
    assert loss.shape == () and loss.dtype == np.float64, "a number comes back as a 0-d float64 array"
    assert sorted(grads) == sorted(params)


BARE_CLASSES = {"nnl/model.py": """
    class Model:
        def __init__(self):
            raise NotImplementedError("__init__ is the student's to write")

        def __setattr__(self, name, value):
            if name == "forbidden":
                raise ValueError("no forbidden attribute")
            object.__setattr__(self, name, value)
            object.__setattr__(self, "order", getattr(self, "order", ()) + (name,))

        def total(self):
            return self.reg * self.params["W"].sum()
"""}


def test_a_bare_instance_skips_init_and_gets_its_attributes_in_one_round_trip(tmp_path, isolation, rng):
    """Is the instance made without __init__, given each attribute in order through the class's own
    __setattr__, callable afterwards, and is a failing __setattr__ the student's error?"""
    W = rng.standard_normal((3, 2))
    with open_sandbox(write_submission(tmp_path / "student", BARE_CLASSES), isolation) as sb:
        sent = []
        request = sb._request
        sb._request = lambda header, *args, **kwargs: sent.append(header["op"]) or request(header, *args, **kwargs)
        model = sb.bare_instance("nnl.model", "Model", {"reg": 0.5, "params": {"W": W}})
        assert sent == ["bare"], "one round trip"
        assert isinstance(model, Handle) and model.type_name == "Model"
        assert sb.getattr(model, "order") == ("reg", "params")
        np.testing.assert_allclose(sb.call_method(model, "total"), 0.5 * W.sum(), rtol=1e-12)
        with pytest.raises(StudentError, match="no forbidden attribute") as failed:
            sb.bare_instance("nnl.model", "Model", {"reg": 0.5, "forbidden": 1})
        assert failed.value.kind == "exception" and failed.value.type_name == "ValueError"
        with pytest.raises(StudentError) as not_a_class:
            sb.bare_instance("nnl.model", "np", {})
        assert not_a_class.value.kind == "exception"
        assert sb.call_method(model, "total") is not None, "a failed bare instance leaves the worker serving"


def test_mutated_returns_the_argument_state_after_the_call(reference_submission, rng):
    """Does a dict the callee updates (bn_param gaining running_mean) reach the caller?"""
    x = rng.standard_normal((6, 3))
    bn_param = {"mode": "train"}
    with open_sandbox(reference_submission) as sb:
        (out, _), (args_after, _) = sb.call("nnl.layers", "batchnorm_forward", x, np.ones(3), np.zeros(3),
                                            bn_param, mutated=True)
    assert "running_mean" not in bn_param, "the caller's own dict is never touched"
    np.testing.assert_allclose(args_after[3]["running_mean"], 0.1 * x.mean(axis=0), rtol=1e-10)


def test_call_many_evaluates_a_batch_in_one_round_trip(reference_submission, rng):
    """Does call_many return one decoded result per argument tuple, in order?"""
    xs = [rng.standard_normal((3, 4)) for _ in range(5)]
    with open_sandbox(reference_submission) as sb:
        results = sb.call_many("nnl.layers", "relu_forward", [(x,) for x in xs])
    assert len(results) == 5
    for (out, _), x in zip(results, xs):
        np.testing.assert_array_equal(out, np.maximum(x, 0))


# ------------------------------------------------------------------------- lying values

LIARS = """
    import numpy as np

    class Liar(np.ndarray):
        def __eq__(self, other):
            return True
        def __array__(self, *args, **kwargs):
            return np.zeros(self.shape)
        def __float__(self):
            return 0.0
        def astype(self, *args, **kwargs):
            return np.zeros(self.shape)

    class LyingFloat(float):
        def __float__(self):
            return 42.0
        def __eq__(self, other):
            return True

    def lie():
        return np.arange(6, dtype=np.float32).reshape(2, 3).view(Liar), LyingFloat(1.5), np.int32(7)
"""


def test_ndarray_subclass_and_float_subclass_come_back_as_their_true_plain_values(tmp_path):
    """Are a lying ndarray subclass and a lying float decoded to plain arrays of their real data?"""
    sub = write_submission(tmp_path / "s", {"nnl/liar.py": LIARS})
    with open_sandbox(sub) as sb:
        array, number, integer = sb.call("nnl.liar", "lie")
    assert type(array) is np.ndarray and array.dtype == np.float64
    np.testing.assert_array_equal(array, np.arange(6.0).reshape(2, 3))
    assert type(number) is np.ndarray and number == 1.5, "the float's real value, not its __float__"
    assert integer.dtype == np.int64 and integer == 7


def test_monkeypatching_numpy_in_the_worker_does_not_reach_the_parent(tmp_path):
    """Does patching numpy.allclose / numpy.testing at import stay in the worker?"""
    sub = write_submission(tmp_path / "s", {"nnl/patch.py": """
        import numpy as np
        import numpy.testing
        np.allclose = lambda *a, **k: True
        np.testing.assert_allclose = lambda *a, **k: None
        def probe():
            return np.allclose(0.0, 1.0)
    """})
    with open_sandbox(sub) as sb:
        assert sb.call("nnl.patch", "probe") is True, "the patch did take effect inside the worker"
    assert np.allclose(0.0, 1.0) is False
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(0.0, 1.0)


# ------------------------------------------------------------------------- exits, crashes, loops

EXITS = {
    "nnl/exit_at_import.py": "import sys\nsys.exit(0)\n",
    "nnl/os_exit_at_import.py": "import os\nos._exit(0)\n",
    "nnl/broken_syntax.py": "def f(:\n    pass\n",
    "nnl/fine.py": """
        import os, sys

        def ok():
            return 1.0

        def exits():
            sys.exit(0)

        def hard_exit():
            os._exit(0)

        def raises():
            return helper()

        def helper():
            raise ValueError("shapes do not match")

        def spin():
            while True:
                pass

        def segfault():
            import ctypes
            ctypes.string_at(0)
    """,
}


@pytest.mark.parametrize("module,function,kind", [
    ("nnl.exit_at_import", "f", "import"),
    ("nnl.broken_syntax", "f", "import"),
    ("nnl.os_exit_at_import", "f", "crash"),
    ("nnl.fine", "exits", "crash"),
    ("nnl.fine", "hard_exit", "crash"),
    ("nnl.fine", "segfault", "crash"),
    ("nnl.fine", "spin", "timeout"),
])
def test_a_failure_is_a_student_error_and_the_next_call_works(tmp_path, isolation, module, function, kind):
    """Does each way of dying become a StudentError of the right kind, with the worker back for the next call?"""
    sub = write_submission(tmp_path / "s", EXITS)
    limits = Limits(memory_mb=1024, call_timeout=1.5)
    with open_sandbox(sub, isolation, limits) as sb:
        with pytest.raises(StudentError) as caught:
            sb.call(module, function)
        assert caught.value.kind == kind, f"{module}.{function} gave {caught.value}"
        assert sb.call("nnl.fine", "ok") == 1.0, "the next call must work after a failure"


def test_an_exception_reports_its_type_message_and_student_frames_only(tmp_path):
    """Does the traceback name the student's file and lines and nothing of the worker?"""
    sub = write_submission(tmp_path / "s", EXITS)
    with open_sandbox(sub) as sb:
        with pytest.raises(StudentError) as caught:
            sb.call("nnl.fine", "raises")
    error = caught.value
    assert (error.kind, error.type_name, error.message) == ("exception", "ValueError", "shapes do not match")
    assert [line.split(" in ")[1].split(":")[0] for line in error.traceback] == ["raises", "helper"]
    assert all(line.startswith("nnl/fine.py:") for line in error.traceback)


def test_a_handle_from_a_crashed_worker_is_reported_lost(reference_submission, rng):
    """After a restart, is an old cache a clear StudentError rather than a wrong object?"""
    with open_sandbox(reference_submission) as sb:
        _, cache = sb.call("nnl.layers", "relu_forward", rng.standard_normal(3))
        model = sb.call("nnl.cnn", "ThreeLayerConvNet", input_dim=(3, 8, 8))
        sb.restart()
        with pytest.raises(StudentError, match="lost"):
            sb.getattr(model, "params")
        _, fresh_cache = sb.call("nnl.layers", "relu_forward", rng.standard_normal(3))
        assert sb.call("nnl.layers", "relu_backward", np.ones(3), fresh_cache).shape == (3,)
        assert cache is not fresh_cache


@pytest.mark.parametrize("bomb", [
    "np.ones((1 << 31,))",
    "[bytearray(64 << 20) for _ in range(10 ** 6)]",
])
def test_a_memory_bomb_hits_the_limit_and_the_parent_is_fine(tmp_path, isolation, bomb):
    """Does exhausting memory end as a crash of the call only?"""
    sub = write_submission(tmp_path / "s", {"nnl/bomb.py": f"import numpy as np\ndef go():\n    return {bomb}\n",
                                            "nnl/fine.py": EXITS["nnl/fine.py"]})
    with open_sandbox(sub, isolation, Limits(memory_mb=768, call_timeout=20)) as sb:
        with pytest.raises(StudentError) as caught:
            sb.call("nnl.bomb", "go")
        assert caught.value.kind == "crash" and "MemoryError" in str(caught.value)
        assert sb.call("nnl.fine", "ok") == 1.0


# ------------------------------------------------------------------------- processes

SLEEPERS = """
    import os, sys, time

    def fork_sleepers(marker, count):
        started = 0
        for _ in range(count):
            try:
                pid = os.fork()
            except OSError:
                return started
            if pid == 0:
                time.sleep(1000)
                os._exit(0)
            started += 1
        return started

    def daemon(marker):
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(1000)", marker])
            os._exit(0)
        time.sleep(0.5)
        return True

    def bomb():
        while True:
            os.fork()
"""


def test_forking_is_limited_and_no_sleeper_or_daemon_outlives_the_sandbox(tmp_path):
    """Are forks capped by max_processes, and are forked and double-forked sleepers gone after exit?"""
    marker = "sleeper" + os.urandom(6).hex()
    sub = write_submission(tmp_path / "s", {"nnl/sleepers.py": SLEEPERS})
    with open_sandbox(sub) as sb:
        assert sb.call("nnl.sleepers", "daemon", marker) is True
        started = sb.call("nnl.sleepers", "fork_sleepers", marker, 200)
        assert 0 < int(started) < FAST.max_processes, f"{started} forks succeeded with a limit of {FAST.max_processes}"
        assert len(marked_processes(sb.token)) >= int(started), "the forked sleepers should be running now"
        assert marked_processes(marker), "the double-forked daemon should be running now"
        token = sb.token
    assert marked_processes(token) == [], "forked sleepers outlived the sandbox"
    assert marked_processes(marker) == [], "a setsid daemon outlived the sandbox"


def test_a_fork_bomb_costs_one_call_and_leaves_nothing(tmp_path):
    """Does an exponential fork bomb end as a failed call, with nothing left afterwards?"""
    sub = write_submission(tmp_path / "s", {"nnl/sleepers.py": SLEEPERS, "nnl/fine.py": EXITS["nnl/fine.py"]})
    with open_sandbox(sub, limits=Limits(max_processes=16, call_timeout=3)) as sb:
        with pytest.raises(StudentError) as caught:
            sb.call("nnl.sleepers", "bomb")
        assert caught.value.kind in ("exception", "timeout")
        assert sb.call("nnl.fine", "ok") == 1.0
        token = sb.token
    assert marked_processes(token) == []


def test_restart_after_a_timeout_kills_the_old_workers_children(tmp_path):
    """Are the children of a timed-out worker gone before the next one starts?"""
    sub = write_submission(tmp_path / "s", {"nnl/sleepers.py": SLEEPERS, "nnl/fine.py": EXITS["nnl/fine.py"]})
    with open_sandbox(sub, limits=Limits(call_timeout=1)) as sb:
        sb.call("nnl.sleepers", "fork_sleepers", "x", 3)
        with pytest.raises(StudentError):
            sb.call("nnl.fine", "spin")
        assert marked_processes(sb.token) == []
        assert sb.call("nnl.fine", "ok") == 1.0


STUCK_AT_IMPORT = {
    "nnl/model.py": "from nnl.layers import *\n\ndef build():\n    return 1.0\n",
    "nnl/layers.py": "import time\nfrom nnl import helpers\n\ndef relu(x):\n    return x\n",
    "nnl/helpers.py": "while True:\n    pass\n",
    "nnl/slow.py": "import time\ntime.sleep(0.9)\n\ndef f():\n    return 2.0\n",
}


def test_a_timeout_at_import_names_the_modules_it_was_stuck_in(tmp_path, isolation):
    """Does a hang in a module imported by another say, outermost first, where the import was stuck?"""
    sub = write_submission(tmp_path / "s", STUCK_AT_IMPORT)
    with open_sandbox(sub, isolation, Limits(memory_mb=1024, call_timeout=1.5)) as sb:
        with pytest.raises(StudentError) as caught:
            sb.call("nnl.model", "build")
        assert caught.value.kind == "timeout"
        assert caught.value.importing == ("nnl.model", "nnl.layers", "nnl.helpers")
        with pytest.raises(StudentError) as caught:  # a timeout in a function, not at import
            sb.import_module("nnl.helpers")
        assert caught.value.importing == ("nnl.helpers",)


def test_an_import_that_ends_after_the_notice_is_an_ordinary_result(tmp_path, isolation):
    """Does an import slower than the notice's delay, but within the limit, return as usual, with nothing stale?"""
    sub = write_submission(tmp_path / "s", {**STUCK_AT_IMPORT, "nnl/fine.py": EXITS["nnl/fine.py"]})
    with open_sandbox(sub, isolation, Limits(memory_mb=1024, call_timeout=1.2)) as sb:
        assert sb.call("nnl.slow", "f") == 2.0  # the notice is sent at 0.7 s, the import ends at 0.9 s
        assert sb.call("nnl.fine", "ok") == 1.0
        with pytest.raises(StudentError) as caught:
            sb.call("nnl.fine", "spin")
        assert caught.value.kind == "timeout" and caught.value.importing == ()


def test_a_refused_module_fails_at_once_for_its_importers_in_every_later_worker(tmp_path, isolation):
    """After refuse_import, do the modules importing it fail with the reason at their import line, restarts included?"""
    sub = write_submission(tmp_path / "s", {**STUCK_AT_IMPORT, "nnl/fine.py": EXITS["nnl/fine.py"]})
    with open_sandbox(sub, isolation, Limits(memory_mb=1024, call_timeout=5)) as sb:
        sb.call("nnl.fine", "ok")  # a live worker: refused now
        sb.refuse_import("nnl.helpers", "nnl/helpers.py hangs")
        for restart in (False, True):
            if restart:
                sb.restart()
            with pytest.raises(StudentError) as caught:
                sb.call("nnl.model", "build")
            error = caught.value
            assert (error.kind, error.type_name, error.message) == ("import", "ImportError", "nnl/helpers.py hangs")
            assert error.traceback[-1].startswith("nnl/layers.py:2 in <module>: from nnl import helpers")
            assert sb.call("nnl.fine", "ok") == 1.0


# ------------------------------------------------------------------------- output and protocol

def test_flooding_stdout_is_capped_and_the_protocol_survives(tmp_path):
    """Is captured output capped at max_output_kb while results still arrive?"""
    sub = write_submission(tmp_path / "s", {"nnl/flood.py": """
        import sys
        def flood():
            for _ in range(20000):
                print("x" * 100)
            sys.stderr.write("e" * 100000)
            return 3.0
    """})
    with open_sandbox(sub) as sb:
        assert sb.call("nnl.flood", "flood") == 3.0
        assert sb.call("nnl.flood", "flood") == 3.0
        captured = sb.output()
    assert len(captured.stdout) == FAST.max_output_kb * 1024 and captured.stdout.startswith("xxx")
    assert len(captured.stderr) == FAST.max_output_kb * 1024
    assert captured.truncated


def test_a_fake_protocol_message_on_stdout_has_no_effect(tmp_path):
    """Does printing a forged reply (and a fake pytest summary) change the result?"""
    sub = write_submission(tmp_path / "s", {"nnl/forge.py": """
        import json, struct, sys
        def forge():
            header = json.dumps({"op": "result", "value": 100.0, "blobs": []}).encode()
            sys.stdout.buffer.write(b"SBX1" + struct.pack(">I", len(header)) + header)
            print("===== 40 passed in 0.1s =====")
            sys.stdout.flush()
            return 0.0
    """})
    with open_sandbox(sub) as sb:
        assert sb.call("nnl.forge", "forge") == 0.0
        assert "40 passed" in sb.output().stdout


def test_what_a_call_printed_is_in_the_output_as_soon_as_it_returns(tmp_path):
    """Is each call's printing captured by the time its reply is read (no race with the drain thread)?"""
    sub = write_submission(tmp_path / "s", {"nnl/shout.py": """
        import sys
        def shout(i):
            print(f"line {i}")
            sys.stderr.write(f"warn {i}\\n")
            return i
    """})
    with open_sandbox(sub) as sb:
        for i in range(300):
            assert sb.call("nnl.shout", "shout", i) == i
            seen = sb.output(clear=True)
            assert (seen.stdout, seen.stderr) == (f"line {i}\n", f"warn {i}\n")


def test_a_thread_that_never_stops_printing_does_not_stall_the_grader(tmp_path):
    """Does reading the output return, capped, while student code goes on flooding stdout after its call?"""
    sub = write_submission(tmp_path / "s", {"nnl/flood.py": """
        import fcntl, os, threading
        def flood():
            try:
                fcntl.fcntl(1, 1031, 1 << 20)  # F_SETPIPE_SZ: a bigger pipe, refilled faster than it drains
            except OSError:
                pass
            def forever():
                block = b"x" * (1 << 20)
                while True:
                    os.write(1, block)
            for _ in range(4):
                threading.Thread(target=forever, daemon=True).start()
            return 1.0
    """})
    with open_sandbox(sub) as sb:
        assert sb.call("nnl.flood", "flood") == 1.0
        for _ in range(20):
            reader = threading.Thread(target=sb.output, daemon=True)
            reader.start()
            reader.join(timeout=20)
            assert not reader.is_alive(), "Sandbox.output() did not return while the worker kept printing"
        assert sb.output().truncated


def test_garbage_on_the_protocol_pipe_is_a_protocol_error_of_that_call(tmp_path):
    """Is junk written to the worker's reply pipe attributed to the call, with the next call working?"""
    sub = write_submission(tmp_path / "s", {"nnl/garbage.py": """
        import os, sys
        def junk():
            fd = int(sys.argv[sys.argv.index("--fd-out") + 1])
            os.write(fd, b"SBX1\\xff\\xff\\xff\\xff" + b"\\0" * 64)
            return 1.0
        def ok():
            return 2.0
    """})
    with open_sandbox(sub) as sb:
        with pytest.raises(StudentError) as caught:
            sb.call("nnl.garbage", "junk")
        assert caught.value.kind == "protocol"
        assert sb.call("nnl.garbage", "ok") == 2.0


# ------------------------------------------------------------------------- file system and network

@pytest.fixture
def repo_canary():
    """A throw-away file in the repository root for student code to try to delete (removed afterwards)."""
    canary = REPO_ROOT / f".sandbox-canary-{os.getpid()}-{os.urandom(4).hex()}"
    canary.write_text("keep me")
    yield canary
    canary.unlink(missing_ok=True)
    canary.with_suffix(".pwned").unlink(missing_ok=True)


def test_writes_and_deletes_outside_change_nothing(tmp_path, repo_canary):
    """Do writes to ../, the repository and the original submission leave them untouched?

    Bubblewrap only: the rlimits-only fallback, run as root, cannot promise this.
    """
    sub = tmp_path / "student"
    canary = tmp_path / "canary.txt"
    canary.write_text("keep me")
    write_submission(sub, {"notes.txt": "mine", "nnl/vandal.py": f"""
        import os, shutil
        TARGETS = [
            lambda: open("../pwned.txt", "w").write("x"),
            lambda: os.remove("../canary.txt"),
            lambda: open({str(repo_canary.with_suffix('.pwned'))!r}, "w").write("x"),
            lambda: os.remove({str(repo_canary)!r}),
            lambda: open({str(sub / 'notes.txt')!r}, "w").write("changed"),
            lambda: os.remove("notes.txt"),
            lambda: shutil.rmtree("nnl"),
            lambda: open("nnl/__init__.py", "a").write("raise SystemExit"),
        ]
        def vandalize():
            done = []
            for index, attempt in enumerate(TARGETS):
                try:
                    attempt()
                    done.append(index)
                except OSError:
                    pass
            return done
    """})
    before = snapshot(sub)
    with open_sandbox(sub) as sb:
        assert sb.isolation == "bubblewrap", sb.isolation
        done = sb.call("nnl.vandal", "vandalize")
    assert done == [], f"attempts {done} succeeded inside the sandbox"
    assert snapshot(sub) == before, "the original submission changed"
    assert canary.read_text() == "keep me" and not (tmp_path / "pwned.txt").exists()
    assert repo_canary.read_text() == "keep me" and not repo_canary.with_suffix(".pwned").exists()


@pytest.mark.parametrize("path", [str(REPO_ROOT / "README.md"), "/work/main/README.md",
                                  str(REPO_ROOT / "autograder" / "sandbox.py"), "/root/.bashrc"])
def test_files_outside_the_view_cannot_be_read(tmp_path, path):
    """Is the repository (and /work, /root) invisible from inside the sandbox?"""
    sub = write_submission(tmp_path / "s", {"nnl/reader.py": """
        def read(path):
            try:
                with open(path, "rb") as handle:
                    return "read %d bytes" % len(handle.read())
            except OSError as exc:
                return type(exc).__name__
    """})
    with open_sandbox(sub) as sb:
        assert sb.call("nnl.reader", "read", path) in ("FileNotFoundError", "PermissionError")
        assert sb.call("nnl.reader", "read", "nnl/reader.py").startswith("read "), "its own files stay readable"


def test_a_socket_to_the_host_loopback_fails(tmp_path):
    """Can student code reach a server listening on the grader's 127.0.0.1? (It must not.)"""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    sub = write_submission(tmp_path / "s", {"nnl/net.py": """
        import socket
        def connect(port):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).sendall(b"leak")
                return "connected"
            except OSError as exc:
                return type(exc).__name__
    """})
    try:
        with open_sandbox(sub) as sb:
            assert sb.call("nnl.net", "connect", port) != "connected"
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()


# ------------------------------------------------------------------------- substitution

BUGGY_BATCHNORM = """
    import numpy as np

    def batchnorm_forward(x, gamma, beta, bn_param):
        out = x * 0.0 + 12345.0  # wrong on purpose
        return out, ("student cache", x)

    def batchnorm_backward(dout, cache):
        return dout * 0.0, None, None
"""

SPATIAL_WRAPPER = """
    from nnl.layers import *

    def spatial_batchnorm_forward(x, gamma, beta, bn_param):
        N, C, H, W = x.shape
        flat = x.transpose(0, 2, 3, 1).reshape(-1, C)  # (N*H*W, C)
        out, cache = batchnorm_forward(flat, gamma, beta, bn_param)
        return out.reshape(N, H, W, C).transpose(0, 3, 1, 2), (cache, x.shape)

    def spatial_batchnorm_backward(dout, cache):
        bn_cache, (N, C, H, W) = cache
        dx, dgamma, dbeta = batchnorm_backward(dout.transpose(0, 2, 3, 1).reshape(-1, C), bn_cache)
        return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta
"""


def test_substituting_the_reference_dependency_credits_the_wrapper(tmp_path, rng):
    """With a buggy batchnorm_forward, does the wrapper match the reference once the reference is substituted?"""
    from nnl.conv_layers import spatial_batchnorm_backward, spatial_batchnorm_forward
    from nnl.layers import batchnorm_backward, batchnorm_forward

    calls = []

    def reference_forward(*args):
        calls.append(os.getpid())
        return batchnorm_forward(*args)

    sub = write_submission(tmp_path / "s", {"nnl/layers.py": BUGGY_BATCHNORM, "nnl/conv_layers.py": SPATIAL_WRAPPER})
    x, gamma, beta = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal(3), rng.standard_normal(3)
    dout = rng.standard_normal(x.shape)
    expected, expected_cache = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    with open_sandbox(sub) as sb:
        plain, _ = sb.call("nnl.conv_layers", "spatial_batchnorm_forward", x, gamma, beta, {"mode": "train"})
        (out, cache), (args_after, _) = sb.call(
            "nnl.conv_layers", "spatial_batchnorm_forward", x, gamma, beta, {"mode": "train"}, mutated=True,
            substitute={"batchnorm_forward": reference_forward})
        dx, dgamma, dbeta = sb.call("nnl.conv_layers", "spatial_batchnorm_backward", dout, cache,
                                    substitute={"batchnorm_backward": batchnorm_backward})
        again, _ = sb.call("nnl.conv_layers", "spatial_batchnorm_forward", x, gamma, beta, {"mode": "train"})
    assert np.all(plain == 12345.0), "without substitution the student's own buggy dependency runs"
    np.testing.assert_allclose(out, expected, rtol=1e-10, err_msg="the wrapper with the reference dependency")
    for got, want in zip((dx, dgamma, dbeta), spatial_batchnorm_backward(dout, expected_cache)):
        np.testing.assert_allclose(got, want, rtol=1e-10)
    assert calls == [os.getpid()], "the reference ran once, in the parent process"
    assert "running_mean" in args_after[3], "the reference's update of bn_param reached the student's dict"
    assert np.all(again == 12345.0), "the substitution lasts for one call only"


CACHE_MISMATCH = {"nnl/wrapper.py": """
    from nnl.layers import affine_forward, affine_relu_backward, affine_backward


    def mismatched(x, w, b):
        out, cache = affine_forward(x, w, b)
        return affine_relu_backward(out, cache)  # the 3-tuple of affine_forward where 2 parts are expected


    def matched(x, w, b):
        out, cache = affine_forward(x, w, b)
        return affine_backward(out, cache)


    def looks_inside(x, w, b):
        out, cache = affine_forward(x, w, b)
        return cache[0].shape
""", "nnl/layers.py": """
    def affine_forward(x, w, b):
        raise NotImplementedError


    def affine_backward(dout, cache):
        raise NotImplementedError


    def affine_relu_backward(dout, cache):
        fc_cache, relu_cache = cache
        return fc_cache, relu_cache
"""}


def test_a_reference_cache_unpacks_as_the_student_s_own_would(tmp_path, rng):
    """Does student code that unpacks a substituted reference's cache into the wrong number of parts
    fail as it would with its own layers, and does the cache still reach the reference intact?"""
    from nnl.layers import affine_backward, affine_forward

    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    reference = {"affine_forward": affine_forward, "affine_backward": affine_backward}
    with open_sandbox(write_submission(tmp_path / "s", CACHE_MISMATCH)) as sb:
        with pytest.raises(StudentError) as failed:
            sb.call("nnl.wrapper", "mismatched", x, w, b, substitute=reference)
        dx, dw, db = sb.call("nnl.wrapper", "matched", x, w, b, substitute=reference)
        with pytest.raises(StudentError) as looked:
            sb.call("nnl.wrapper", "looks_inside", x, w, b, substitute=reference)
    assert failed.value.type_name == "ValueError" and "too many values to unpack (expected 2)" in failed.value.message
    assert looked.value.type_name == "AttributeError" and REFERENCE_CACHE_PART in looked.value.message
    feedback = describe("looks_inside", looked.value)
    assert "part of a cache made by the reference's version of a function your code calls" in feedback
    assert "part of a cache made" not in describe("mismatched", failed.value), "the note only where it explains"
    out, cache = affine_forward(x, w, b)
    for got, want in zip((dx, dw, db), affine_backward(out, cache)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


# ------------------------------------------------------------------------- fallback

def test_the_rlimits_only_fallback_works_and_says_so(reference_submission, rng):
    """Does use_bwrap=False still grade, and report the weaker isolation?"""
    x = rng.standard_normal((2, 3))
    with Sandbox(reference_submission, limits=FAST, use_bwrap=False) as sb:
        out, _ = sb.call("nnl.layers", "relu_forward", x)
        assert sb.isolation.startswith("rlimits-only: bubblewrap turned off")
    np.testing.assert_array_equal(out, np.maximum(x, 0))


def test_a_missing_bwrap_falls_back_with_the_reason(reference_submission, monkeypatch):
    """Without bwrap on the PATH, does the sandbox fall back and name the reason?"""
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: None)
    with Sandbox(reference_submission, limits=FAST) as sb:
        assert sb.isolation.startswith("rlimits-only: bubblewrap (bwrap) is not installed")
        assert sb.call("nnl.layers", "relu_forward", np.ones(2))[0].tolist() == [1.0, 1.0]


def broken_bwrap(folder: Path) -> str:
    """A ``bwrap`` that fails the way it does where namespaces are forbidden (a locked-down container)."""
    folder.mkdir(parents=True, exist_ok=True)
    fake = folder / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\nexit 1\n")
    fake.chmod(0o755)
    return str(fake)


def test_a_failing_bwrap_refuses_to_run_student_code(reference_submission, tmp_path, monkeypatch):
    """Installed but failing, is bubblewrap a loud refusal rather than a silent rlimits-only fallback?"""
    fake = broken_bwrap(tmp_path / "bin")
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: fake if name == "bwrap" else None)
    monkeypatch.delenv(ALLOW_FALLBACK_ENV, raising=False)
    monkeypatch.delenv(LEGACY_ALLOW_FALLBACK_ENV, raising=False)
    with pytest.raises(SandboxUnavailable, match=f"bubblewrap failed to start.*set {ALLOW_FALLBACK_ENV}=1") as caught:
        with Sandbox(reference_submission, limits=FAST):
            pass
    assert "Creating new namespace failed: Operation not permitted" in str(caught.value), "bwrap's own error is shown"


@pytest.mark.parametrize("variable", [ALLOW_FALLBACK_ENV, LEGACY_ALLOW_FALLBACK_ENV])
def test_a_failing_bwrap_falls_back_only_when_allowed(reference_submission, tmp_path, monkeypatch, variable):
    """With GRADER_SANDBOX_ALLOW_FALLBACK=1 (or its older name), does it grade with resource limits and say why?"""
    fake = broken_bwrap(tmp_path / "bin")
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: fake if name == "bwrap" else None)
    monkeypatch.setenv(variable, "1")
    with Sandbox(reference_submission, limits=FAST) as sb:
        assert sb.isolation.startswith("rlimits-only: bubblewrap failed to start")
        assert "Operation not permitted" in sb.isolation
        assert sb.call("nnl.layers", "relu_forward", np.ones(2))[0].tolist() == [1.0, 1.0]


@pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap is not installed")
def test_a_worker_that_ran_under_bwrap_never_restarts_without_it(tmp_path, monkeypatch):
    """After a crash, if bubblewrap cannot start again, is the restart refused even when fallback is allowed?"""
    sub = write_submission(tmp_path / "s", {"nnl/crash.py": """
        import os
        def crash():
            os._exit(3)
    """}, with_reference=True)
    monkeypatch.setenv(ALLOW_FALLBACK_ENV, "1")
    with Sandbox(sub, limits=FAST) as sb:
        assert sb.isolation == "bubblewrap"
        with pytest.raises(StudentError):
            sb.call("nnl.crash", "crash")
        fake = broken_bwrap(tmp_path / "bin")
        monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: fake if name == "bwrap" else None)
        with pytest.raises(SandboxUnavailable, match="no restart without it"):
            sb.call("nnl.layers", "relu_forward", np.ones(2))
        assert sb.isolation == "bubblewrap"


def test_closing_removes_the_private_copy(reference_submission):
    """Is the temporary copy of the submission gone after the with-block?"""
    with open_sandbox(reference_submission) as sb:
        private = sb._tmp
        assert (private / "submission" / "nnl" / "layers.py").is_file()
    assert not private.exists()


def test_bwrap_mode_reports_bubblewrap_and_an_unprivileged_user(tmp_path):
    """Under bubblewrap, does the worker run as a non-root user inside its own pid namespace?"""
    sub = write_submission(tmp_path / "s", {"nnl/who.py": """
        import os
        def who():
            return os.getuid(), len([p for p in os.listdir("/proc") if p.isdigit()])
    """})
    with open_sandbox(sub) as sb:
        uid, visible = sb.call("nnl.who", "who")
        assert sb.isolation == "bubblewrap"
    assert int(uid) != 0
    assert int(visible) <= 3, f"the worker sees {visible} processes: not its own pid namespace?"


def test_packages_installed_under_tmp_are_visible_inside_bubblewrap(tmp_path, monkeypatch):
    """Does a virtualenv under /tmp stay importable, rather than hidden by the sandbox's own /tmp?"""
    import autograder.sandbox.sandbox as sandbox_module

    site = tmp_path / "venv-site"
    site.mkdir()
    (site / "sitemarker.py").write_text("VALUE = 42\n")
    site.chmod(0o755)
    for parent in site.parents:  # the sandbox user must be able to reach it, as with a real venv
        if str(parent).startswith("/tmp/") and parent.stat().st_mode & 0o005 != 0o005:
            parent.chmod(parent.stat().st_mode | 0o005)
    real_sites = sandbox_module._numpy_site_dirs()
    monkeypatch.setattr(sandbox_module, "_numpy_site_dirs", lambda: [*real_sites, str(site)])
    sub = write_submission(tmp_path / "s", {"nnl/usesite.py": """
        def value():
            import sitemarker
            return sitemarker.VALUE
    """})
    with open_sandbox(sub) as sb:
        assert sb.isolation == "bubblewrap", sb.isolation
        assert int(sb.call("nnl.usesite", "value")) == 42


def test_zero_dimensional_arrays_keep_their_shape_both_ways(tmp_path):
    """Does a 0-d argument (a loss handed back by a substituted reference) arrive as 0-d, not (1,)?"""
    sub = write_submission(tmp_path / "s", {"nnl/shape.py": """
        import numpy as np
        def shape_of(value):
            return np.asarray(value).shape, np.float64(2.5)
    """})
    with open_sandbox(sub) as sb:
        shape, scalar = sb.call("nnl.shape", "shape_of", np.float64(1.5))
        assert tuple(int(d) for d in shape) == ()
        assert np.shape(scalar) == () and float(scalar) == 2.5
        shape, _ = sb.call("nnl.shape", "shape_of", np.array(3.0))
        assert tuple(int(d) for d in shape) == ()


@pytest.mark.parametrize("node, blob, complaint", [
    ({"i": 0, "d": "<f8", "s": [2, 2]}, b"\0" * 24, "needs 32 bytes"),
    ({"i": 0, "d": "|O", "s": [1]}, b"\0" * 8, "float64 or int64"),
    ({"i": 0, "d": "<f8", "s": [-1]}, b"", "malformed array shape"),
    ({"i": 0, "d": "<f8", "s": "3"}, b"\0" * 24, "malformed array shape"),
    ({"i": 1, "d": "<f8", "s": [1]}, b"\0" * 8, "out of range"),
], ids=["short", "object-dtype", "negative-shape", "shape-not-a-list", "no-such-blob"])
def test_a_forged_array_is_a_protocol_error(node, blob, complaint):
    """Is every array the worker sends checked (dtype, shape, exact byte count) before numpy reads it?"""
    with pytest.raises(sandbox_module.ProtocolError, match=complaint):
        sandbox_module._decode_array({"$": "nd", **node}, [blob])


def test_arrays_arrive_as_fresh_writable_copies():
    """Does a decoded array own its memory (never a view on the worker's bytes)?"""
    blob = np.arange(6, dtype="<f8").tobytes()
    array = sandbox_module._decode_array({"$": "nd", "i": 0, "d": "<f8", "s": [2, 3]}, [blob])
    assert array.flags.owndata and array.flags.writeable and array.dtype == np.float64 and array.shape == (2, 3)
