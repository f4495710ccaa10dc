"""The hidden suites of nnl/layers.py and nnl/optim.py grade fairly.

The real grading command runs `test_layers.py` and `test_optim.py` only, with a
rubric covering just their functions, on: the solved copy (full marks), the
blank release (zero), a submission of correct alternative implementations (full
marks), a submission with one realistic bug per function (each function loses
points, with feedback naming it), and a submission whose forwards are wrong but
whose backwards are right (the backwards keep their points).
"""
import pytest

from submissions import RELEASE, SOLVED, copy_of, grade_json, scores_by_tag, solved_with

RUBRIC = """
total = 26
[functions]
affine_forward     = { module = "nnl.layers", points = 2 }
affine_backward    = { module = "nnl.layers", points = 2 }
batchnorm_forward  = { module = "nnl.layers", points = 4 }
batchnorm_backward = { module = "nnl.layers", points = 4 }
dropout_forward    = { module = "nnl.layers", points = 2 }
dropout_backward   = { module = "nnl.layers", points = 2 }
svm_loss           = { module = "nnl.layers", points = 2 }
softmax_loss       = { module = "nnl.layers", points = 2 }
sgd                = { module = "nnl.optim", points = 1 }
sgd_momentum       = { module = "nnl.optim", points = 1 }
rmsprop            = { module = "nnl.optim", points = 2 }
adam               = { module = "nnl.optim", points = 2 }
"""
FUNCTIONS = ["affine_forward", "affine_backward", "batchnorm_forward", "batchnorm_backward", "dropout_forward",
             "dropout_backward", "svm_loss", "softmax_loss", "sgd", "sgd_momentum", "rmsprop", "adam"]

# ---------------------------------------------------------------- correct alternatives

ALTERNATIVE_LAYERS = {
    "affine_forward": '''
        def affine_forward(x, w, b):
            out = np.zeros((x.shape[0], w.shape[1]))
            for i in range(x.shape[0]):  # one sample at a time
                out[i] = np.ravel(x[i]).dot(w) + b
            return out, {"x": x, "w": w}
    ''',
    "affine_backward": '''
        def affine_backward(dout, cache):
            x, w = cache["x"], cache["w"]
            rows = x.reshape(len(x), -1)
            dx = np.einsum("nm,dm->nd", dout, w).reshape(x.shape)
            dw = np.einsum("nd,nm->dm", rows, dout)
            db = dout.sum(0)
            return dx, dw, db
    ''',
    "batchnorm_forward": '''
        def batchnorm_forward(x, gamma, beta, bn_param):
            mode = bn_param["mode"]
            eps = bn_param.get("eps", 1e-5)
            momentum = bn_param.get("momentum", 0.9)
            N, D = x.shape
            running_mean = bn_param.get("running_mean", np.zeros(D))
            running_var = bn_param.get("running_var", np.zeros(D))
            cache = None
            if mode == "train":
                mu = x.sum(axis=0) / N
                xmu = x - mu
                sq = xmu ** 2
                var = sq.sum(axis=0) / N
                sqrtvar = np.sqrt(var + eps)
                ivar = 1.0 / sqrtvar
                xhat = xmu * ivar
                out = gamma * xhat + beta
                running_mean = running_mean + (1 - momentum) * (mu - running_mean)
                running_var = running_var + (1 - momentum) * (var - running_var)
                cache = {"xhat": xhat, "gamma": gamma, "xmu": xmu, "ivar": ivar, "sqrtvar": sqrtvar, "var": var,
                         "eps": eps}
            elif mode == "test":
                out = (x - running_mean) * (gamma / np.sqrt(running_var + eps)) + beta
            else:
                raise ValueError(mode)
            bn_param["running_mean"] = running_mean
            bn_param["running_var"] = running_var
            return out, cache
    ''',
    # the staged computational graph (kratzert's), on a dict cache
    "batchnorm_backward": '''
        def batchnorm_backward(dout, cache):
            N, D = dout.shape
            xhat, gamma, xmu = cache["xhat"], cache["gamma"], cache["xmu"]
            ivar, sqrtvar, var, eps = cache["ivar"], cache["sqrtvar"], cache["var"], cache["eps"]
            dbeta = np.sum(dout, axis=0)
            dgammax = dout
            dgamma = np.sum(dgammax * xhat, axis=0)
            dxhat = dgammax * gamma
            divar = np.sum(dxhat * xmu, axis=0)
            dxmu1 = dxhat * ivar
            dsqrtvar = -1.0 / (sqrtvar ** 2) * divar
            dvar = 0.5 * 1.0 / np.sqrt(var + eps) * dsqrtvar
            dsq = 1.0 / N * np.ones((N, D)) * dvar
            dxmu2 = 2 * xmu * dsq
            dx1 = dxmu1 + dxmu2
            dmu = -1 * np.sum(dxmu1 + dxmu2, axis=0)
            dx2 = 1.0 / N * np.ones((N, D)) * dmu
            dx = dx1 + dx2
            return dx, dgamma, dbeta
    ''',
    # another RNG (a seeded Generator), a boolean mask and another cache
    "dropout_forward": '''
        def dropout_forward(x, dropout_param):
            p, mode = dropout_param["p"], dropout_param["mode"]
            generator = np.random.default_rng(dropout_param.get("seed"))
            if mode == "train":
                keep = generator.random(x.shape) < 1 - p
                out = np.where(keep, x / (1 - p), 0.0)
                return out, {"keep": keep, "scale": 1 / (1 - p), "train": True}
            return x.copy(), {"train": False}
    ''',
    "dropout_backward": '''
        def dropout_backward(dout, cache):
            if not cache["train"]:
                return dout
            return np.where(cache["keep"], dout * cache["scale"], 0.0)
    ''',
    "svm_loss": '''
        def svm_loss(x, y):
            N, C = x.shape
            loss, dx = 0.0, np.zeros_like(x)
            for i in range(N):
                for j in range(C):
                    if j == y[i]:
                        continue
                    margin = x[i, j] - x[i, y[i]] + 1
                    if margin > 0:
                        loss += margin
                        dx[i, j] += 1
                        dx[i, y[i]] -= 1
            return loss / N, dx / N
    ''',
    "softmax_loss": '''
        def softmax_loss(x, y):
            N = x.shape[0]
            top = x.max(axis=1, keepdims=True)
            logsumexp = top[:, 0] + np.log(np.exp(x - top).sum(axis=1))
            loss = np.mean(logsumexp - x[np.arange(N), y])
            probs = np.exp(x - logsumexp[:, None])
            probs[np.arange(N), y] -= 1
            return loss, probs / N
    ''',
}
ALTERNATIVE_OPTIM = {
    "sgd": '''
        def sgd(w, dw, config=None):
            config = {} if config is None else config
            rate = config.setdefault("learning_rate", 1e-2)
            return w + (-rate) * dw, config
    ''',
    # the PyTorch form: velocity accumulates gradients, the step scales it
    "sgd_momentum": '''
        def sgd_momentum(w, dw, config=None):
            config = {} if config is None else config
            config.setdefault("learning_rate", 1e-2)
            config.setdefault("momentum", 0.9)
            v = config["momentum"] * config.get("velocity", np.zeros_like(w)) + dw
            config["velocity"] = v
            return w - config["learning_rate"] * v, config
    ''',
    "rmsprop": '''
        def rmsprop(w, dw, config=None):
            config = {} if config is None else config
            config.setdefault("learning_rate", 1e-2)
            config.setdefault("decay_rate", 0.99)
            config.setdefault("epsilon", 1e-8)
            cache = np.array(config.get("cache", np.zeros_like(w)), dtype=float)
            cache *= config["decay_rate"]
            cache += (1 - config["decay_rate"]) * dw * dw
            config["cache"] = cache
            return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config
    ''',
    # Kingma & Ba's "epsilon hat" form: the bias correction folded into the step size
    "adam": '''
        def adam(w, dw, config=None):
            config = {} if config is None else config
            config.setdefault("learning_rate", 1e-3)
            config.setdefault("beta1", 0.9)
            config.setdefault("beta2", 0.999)
            config.setdefault("epsilon", 1e-8)
            config.setdefault("m", np.zeros_like(w))
            config.setdefault("v", np.zeros_like(w))
            config.setdefault("t", 0)
            config["t"] += 1
            b1, b2, t = config["beta1"], config["beta2"], config["t"]
            config["m"] = b1 * config["m"] + (1 - b1) * dw
            config["v"] = b2 * config["v"] + (1 - b2) * dw ** 2
            step = config["learning_rate"] * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            return w - step * config["m"] / (np.sqrt(config["v"]) + config["epsilon"]), config
    ''',
}

# ---------------------------------------------------------------- one realistic bug per function

BUGGY_LAYERS = {
    "affine_forward": '''
        def affine_forward(x, w, b):
            out = x.reshape(x.shape[0], -1) @ w  # forgot the bias
            return out, (x, w, b)
    ''',
    "affine_backward": '''
        def affine_backward(dout, cache):
            x, w, b = cache
            dx = dout @ w.T  # not reshaped back to x's shape
            dw = x.reshape(x.shape[0], -1).T @ dout
            db = np.sum(dout, axis=0)
            return dx, dw, db
    ''',
    "batchnorm_forward": '''
        def batchnorm_forward(x, gamma, beta, bn_param):
            mode = bn_param['mode']
            eps = bn_param.get('eps', 1e-5)
            momentum = bn_param.get('momentum', 0.9)
            N, D = x.shape
            running_mean = bn_param.get('running_mean', np.zeros(D, dtype=x.dtype))
            running_var = bn_param.get('running_var', np.zeros(D, dtype=x.dtype))
            out, cache = None, None
            if mode == 'train':
                batch_mean = np.mean(x, axis=0)
                batch_var = np.var(x, axis=0)
                x_centered = x - batch_mean
                inv_std = 1.0 / np.sqrt(batch_var + eps)
                x_hat = x_centered * inv_std
                out = gamma * x_hat + beta
                running_mean = (1 - momentum) * running_mean + momentum * batch_mean  # swapped
                running_var = (1 - momentum) * running_var + momentum * batch_var
                cache = (x_centered, inv_std, x_hat, gamma)
            elif mode == 'test':
                out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
            else:
                raise ValueError(mode)
            bn_param['running_mean'] = running_mean
            bn_param['running_var'] = running_var
            return out, cache
    ''',
    "batchnorm_backward": '''
        def batchnorm_backward(dout, cache):
            x_centered, inv_std, x_hat, gamma = cache
            N = dout.shape[0]
            dbeta = np.sum(dout, axis=0)
            dgamma = np.sum(dout * x_hat, axis=0)
            dx_hat = dout * gamma
            dvar = -0.5 * inv_std ** 3 * np.sum(dx_hat * x_centered, axis=0)
            dx = dx_hat * inv_std + dvar * 2.0 * x_centered / N  # forgot the path through the mean
            return dx, dgamma, dbeta
    ''',
    "dropout_forward": '''
        def dropout_forward(x, dropout_param):
            p, mode = dropout_param['p'], dropout_param['mode']
            if dropout_param.get('seed') is not None:
                np.random.seed(dropout_param['seed'])
            mask = None
            if mode == 'train':
                mask = np.random.rand(*x.shape) >= p  # not inverted: no 1 / (1 - p)
                out = x * mask
            else:
                out = x
            return out, (dropout_param, mask)
    ''',
    "dropout_backward": '''
        def dropout_backward(dout, cache):
            dropout_param, mask = cache
            if dropout_param['mode'] == 'train':
                return dout * mask
            return dout * (1 - dropout_param['p'])  # scales at test time as plain dropout would
    ''',
    "svm_loss": '''
        def svm_loss(x, y):
            N = x.shape[0]
            margins = np.maximum(0, x - x[np.arange(N), y][:, None] + 1.0)  # the correct class's 1 stays in
            loss = np.sum(margins) / N
            positive = (margins > 0).astype(float)
            positive[np.arange(N), y] = 0
            positive[np.arange(N), y] = -np.sum(positive, axis=1)
            return loss, positive / N
    ''',
    "softmax_loss": '''
        def softmax_loss(x, y):
            N = x.shape[0]
            probs = np.exp(x)  # no max subtraction: overflows for large scores
            probs /= np.sum(probs, axis=1, keepdims=True)
            loss = -np.sum(np.log(probs[np.arange(N), y])) / N
            dx = probs.copy()
            dx[np.arange(N), y] -= 1
            return loss, dx / N
    ''',
}
BUGGY_OPTIM = {
    "sgd": '''
        def sgd(w, dw, config=None):
            config = {} if config is None else config
            config.setdefault('learning_rate', 1e-2)
            return w - dw, config  # the learning rate is missing
    ''',
    "sgd_momentum": '''
        def sgd_momentum(w, dw, config=None):
            config = {} if config is None else config
            config.setdefault('learning_rate', 1e-2)
            config.setdefault('momentum', 0.9)
            v = config.get('velocity', np.zeros_like(w))
            v = v - config['learning_rate'] * dw  # momentum never decays the velocity
            config['velocity'] = v
            return w + v, config
    ''',
    "rmsprop": '''
        def rmsprop(w, dw, config=None):
            config = {} if config is None else config
            config.setdefault('learning_rate', 1e-2)
            config.setdefault('decay_rate', 0.99)
            config.setdefault('epsilon', 1e-8)
            config.setdefault('cache', np.zeros_like(w))
            config['cache'] = config['decay_rate'] * config['cache'] + (1 - config['decay_rate']) * dw ** 2
            return w - config['learning_rate'] * dw / (config['cache'] + config['epsilon']), config  # no sqrt
    ''',
    "adam": '''
        def adam(w, dw, config=None):
            config = {} if config is None else config
            config.setdefault('learning_rate', 1e-3)
            config.setdefault('beta1', 0.9)
            config.setdefault('beta2', 0.999)
            config.setdefault('epsilon', 1e-8)
            config.setdefault('m', np.zeros_like(w))
            config.setdefault('v', np.zeros_like(w))
            config.setdefault('t', 0)
            config['t'] = config['t'] + 1
            config['m'] = config['beta1'] * config['m'] + (1 - config['beta1']) * dw
            config['v'] = config['beta2'] * config['v'] + (1 - config['beta2']) * dw ** 2
            step = config['learning_rate'] * config['m'] / (np.sqrt(config['v']) + config['epsilon'])
            return w - step, config  # no bias correction
    ''',
}

# The forwards wrong in their outputs only (the caches stay right): the backwards must keep their points.
WRONG_FORWARDS = {
    "affine_forward": BUGGY_LAYERS["affine_forward"],
    "batchnorm_forward": BUGGY_LAYERS["batchnorm_forward"].replace(
        "out = gamma * x_hat + beta", "out = gamma * x_hat  # forgot beta").replace(
        "running_mean = (1 - momentum) * running_mean + momentum * batch_mean  # swapped",
        "running_mean = momentum * running_mean + (1 - momentum) * batch_mean").replace(
        "running_var = (1 - momentum) * running_var + momentum * batch_var",
        "running_var = momentum * running_var + (1 - momentum) * batch_var"),
    "dropout_forward": BUGGY_LAYERS["dropout_forward"],
}

# Forwards that fail in unusual ways: too large an output to send back, out of memory, an endless loop.
FAILING_FORWARDS = {
    "affine_forward": '''
        def affine_forward(x, w, b):
            return np.zeros((20000, 10000), dtype=np.float32), (x, w, b)  # 1.5 GB once sent as float64
    ''',
    "batchnorm_forward": '''
        def batchnorm_forward(x, gamma, beta, bn_param):
            return np.ones(1 << 40), None  # 8 TB: MemoryError
    ''',
    "dropout_forward": '''
        def dropout_forward(x, dropout_param):
            while True:
                pass
    ''',
}

# A softmax with two mistakes: log of probabilities that underflow to 0 (an infinite loss for very unlikely
# classes, as the catalogued mistake "softmax_log_of_probabilities" gives too) and a loss summed over the batch.
OVERFLOWING_SOFTMAX = {
    "softmax_loss": '''
        def softmax_loss(x, y):
            N = x.shape[0]
            shifted = x - np.max(x, axis=1, keepdims=True)
            probs = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
            with np.errstate(divide="ignore"):
                loss = -np.sum(np.log(probs[np.arange(N), y]))  # not averaged
            dx = probs.copy()
            dx[np.arange(N), y] -= 1
            return loss, dx / N
    ''',
}


# ---------------------------------------------------------------- grading

def _grade(tmp_path_factory, name, submission_of):
    folder = tmp_path_factory.mktemp(name)
    rubric = folder / "rubric.toml"
    rubric.write_text(RUBRIC)
    submission = submission_of(folder / "submission")
    return grade_json(submission, folder / "results.json", "--only", "test_layers.py", "test_optim.py",
                      "--rubric", str(rubric))


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    return _grade(tmp_path_factory, "solved", lambda dest: copy_of(SOLVED, dest))


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return _grade(tmp_path_factory, "release", lambda dest: copy_of(RELEASE, dest))


@pytest.fixture(scope="module")
def alternatives(tmp_path_factory):
    return _grade(tmp_path_factory, "alternatives", lambda dest: solved_with(
        dest, {"nnl/layers.py": ALTERNATIVE_LAYERS, "nnl/optim.py": ALTERNATIVE_OPTIM}))


@pytest.fixture(scope="module")
def buggy(tmp_path_factory):
    return _grade(tmp_path_factory, "buggy", lambda dest: solved_with(
        dest, {"nnl/layers.py": BUGGY_LAYERS, "nnl/optim.py": BUGGY_OPTIM}))


@pytest.fixture(scope="module")
def wrong_forwards(tmp_path_factory):
    return _grade(tmp_path_factory, "wrong_forwards", lambda dest: solved_with(
        dest, {"nnl/layers.py": WRONG_FORWARDS}))


@pytest.fixture(scope="module")
def failing_forwards(tmp_path_factory):
    return _grade(tmp_path_factory, "failing_forwards", lambda dest: solved_with(
        dest, {"nnl/layers.py": FAILING_FORWARDS}))


@pytest.fixture(scope="module")
def overflowing(tmp_path_factory):
    return _grade(tmp_path_factory, "overflowing", lambda dest: solved_with(
        dest, {"nnl/layers.py": OVERFLOWING_SOFTMAX}))


def _failures(results):
    return [test for test in results["tests"] if test["score"] < test["max_score"]]


def test_every_function_is_graded(solved):
    """Does every function of the two files have hidden tests, and nothing else?"""
    assert sorted(scores_by_tag(solved)) == sorted(FUNCTIONS)


def test_solved_copy_gets_full_marks(solved):
    failed = [(t["name"], t["output"]) for t in _failures(solved)]
    assert not failed, f"the reference lost points: {failed[:3]}"


def test_release_gets_zero(release):
    passed = [t["name"] for t in release["tests"] if t["score"] > 0]
    assert not passed, f"the blank release earned points in: {passed}"


def test_release_feedback_says_not_implemented(release):
    unclear = [t["name"] for t in release["tests"] if "not implemented" not in t["output"]]
    assert not unclear, f"these tests of the blank release do not say 'not implemented': {unclear[:5]}"


def test_correct_alternatives_get_full_marks(alternatives):
    """Loops, einsum, dict caches, a staged-graph batchnorm backward, a Generator in dropout, logsumexp softmax,
    PyTorch-style momentum and Adam's epsilon-hat form are all correct."""
    failed = [(t["name"], t["output"]) for t in _failures(alternatives)]
    assert not failed, f"a correct alternative lost points: {failed[:3]}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_bug_costs_its_function_points(buggy, function):
    earned, possible = scores_by_tag(buggy)[function]
    assert earned < possible, f"the bug planted in {function} went unnoticed"


@pytest.mark.parametrize("function", ["affine_backward", "batchnorm_forward", "dropout_forward", "dropout_backward",
                                      "svm_loss", "softmax_loss"])
def test_a_bug_that_shows_on_some_inputs_keeps_the_other_tests_points(buggy, function):
    """These bugs show only for 4-d x, in the running averages, in the scale, in test mode, in the loss value
    or for large scores: the function's other tests still pass."""
    earned, _ = scores_by_tag(buggy)[function]
    assert earned > 0, f"{function}'s bug shows on some inputs only, yet all of its tests failed"


def test_bug_feedback_names_the_function(buggy):
    unnamed = [(t["name"], t["output"]) for t in _failures(buggy) if t["tags"][0] not in t["output"]]
    assert not unnamed, f"feedback that does not name the graded function: {unnamed[:3]}"


@pytest.mark.parametrize("function,words", [
    ("affine_forward", "x @ w + b"),
    ("batchnorm_forward", "(1 - momentum)"),
    ("dropout_forward", "1 / (1 - p)"),
    ("dropout_backward", "scaled by (1 - p)"),
    ("svm_loss", "correct class"),
    ("softmax_loss", "overflow"),
    ("sgd", "learning rate is missing"),
    ("adam", "bias correction"),
])
def test_bug_feedback_names_the_mistake(buggy, function, words):
    outputs = [t["output"] for t in _failures(buggy) if t["tags"] == [function]]
    assert any(words in output for output in outputs), \
        f"no feedback of {function} mentions {words!r}: {outputs[:2]}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_wrong_forwards_cost_their_own_points_only(wrong_forwards, function):
    """The backwards of wrong forwards (right caches) and every other function keep full marks."""
    earned, possible = scores_by_tag(wrong_forwards)[function]
    if function in WRONG_FORWARDS:
        assert earned < possible, f"the bug planted in {function} went unnoticed"
    else:
        failed = [(t["name"], t["output"]) for t in _failures(wrong_forwards) if t["tags"] == [function]]
        assert earned == pytest.approx(possible), f"{function} is right but lost points: {failed[:2]}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_forwards_failing_in_any_way_cost_their_own_points_only(failing_forwards, function):
    """A forward whose output is too large to return, that runs out of memory or loops: its backward keeps its points."""
    earned, possible = scores_by_tag(failing_forwards)[function]
    if function in FAILING_FORWARDS:
        assert earned == 0, f"{function} fails on every input, yet earned {earned}"
    else:
        failed = [(t["name"], t["output"]) for t in _failures(failing_forwards) if t["tags"] == [function]]
        assert earned == pytest.approx(possible), f"{function} is right but lost points: {failed[:2]}"


@pytest.mark.parametrize("function,words", [
    ("affine_forward", "affine_forward's output could not be returned: it is 1.5 GB; outputs are limited to 256.0 MB"),
    ("batchnorm_forward", "batchnorm_forward ran out of memory"),
    ("dropout_forward", "dropout_forward: took too long"),
])
def test_a_failing_forward_is_told_in_the_students_terms(failing_forwards, function, words):
    outputs = [t["output"] for t in _failures(failing_forwards) if t["tags"] == [function]]
    assert outputs and all(words in output for output in outputs), outputs[:2]
    assert not any("protocol" in output or "worker:" in output for output in outputs), outputs[:2]


def _softmax_value_outputs(results) -> dict[str, str]:
    return {t["name"].split("[")[-1].rstrip("]"): t["output"] for t in results["tests"]
            if "test_softmax_loss_value_matches_reference" in t["name"]}


def test_a_known_mistake_is_named_only_for_finite_outputs(overflowing):
    """An infinite loss equal to a mutant's infinite loss names no mistake; a finite summed loss is named."""
    outputs = _softmax_value_outputs(overflowing)
    assert "NaN or infinite" in outputs["spread1000"] and "known mistake" not in outputs["spread1000"], outputs
    assert "known mistake: the loss is summed over the batch" in outputs["unit"], outputs


def test_a_wrong_single_value_is_said_in_a_sentence(overflowing):
    """A scalar's feedback reads "the value is ...", never "1 of 1 values are wrong,;"."""
    outputs = _softmax_value_outputs(overflowing)
    assert "the value is NaN or infinite." in outputs["spread1000"], outputs
    assert "the value is wrong: relative error" in outputs["unit"], outputs
    for output in outputs.values():
        assert "1 of 1" not in output and ",;" not in output and "error nan" not in output, output
