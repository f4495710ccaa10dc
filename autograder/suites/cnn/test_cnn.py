"""Hidden tests of ThreeLayerConvNet (nnl/cnn.py): init, scores, loss, regularization, gradients.

Fair isolation: the network calls the student's layers (affine, ReLU,
softmax, batchnorm, spatial batchnorm, and the naive conv/pool layers if the
student built the network from them) through the provided sandwich layers.
The ``loss`` tests run first on the student's network as submitted, its own
layers included; when that fails, they run again with the reference for each
of those graded layer functions (``@pytest.mark.isolates``), so that they
grade the network's own logic: the wiring, the regularization and the
gradient bookkeeping. A layer bug costs points in that layer's tests only.

The plain-network tests build the class with the seed's signature only
(``network_kwargs``): ``use_batchnorm`` is an optional extension, passed only
by the batchnorm tests, so a network without it keeps its plain points.

The ``loss`` tests do not trust the student's ``__init__`` either: the model's
parameters are replaced by the test's own (``model.params = ...``), and a model
whose ``__init__`` raises is built without it (``__new__`` plus the
attributes the provided template code sets), so an init bug costs the init
tests only.

Numerical gradients are sparse (a few large-gradient positions per
parameter) and taken on inputs where the reference's own analytic and
numerical gradients agree to 1e-8, i.e. away from ReLU and max-pool kinks.
"""
import numpy as np
import pytest

from autograder.grading.checks import (GradingFailure, as_array, check_close, check_rel_error, numerical_gradient,
                                       rel_error)
from autograder.grading.pytest_plugin import GraderError
from autograder.grading.student import StudentCodeFailed

OWNER = "ThreeLayerConvNet"
# Every graded layer function the network may call, directly or through the provided sandwich layers.
LAYERS = ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss",
          "batchnorm_forward", "batchnorm_backward", "spatial_batchnorm_forward", "spatial_batchnorm_backward",
          "conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive")
WEIGHTS = ("W1", "W2", "W3")
N = 3
GRAD_TOL = 1e-6

# Small, non-default networks; the second has a non-square input with 2 channels.
CONFIGS = {
    "fs3": dict(input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=10, num_classes=5),
    "fs5": dict(input_dim=(2, 8, 6), num_filters=3, filter_size=5, hidden_dim=7, num_classes=4),
}
# Large enough layers for the sample mean and std of each weight matrix to mean something.
STATS_CONFIG = dict(input_dim=(3, 8, 8), num_filters=8, filter_size=5, hidden_dim=32, num_classes=10)

ARCHITECTURE_HINT = ("The network is conv - relu - 2x2 max pool - affine - relu - affine (no ReLU on the scores); "
                     "the hidden affine layer takes the pooled (N, F, H/2, W/2) output; with batchnorm, "
                     "spatial batchnorm follows the conv and batchnorm follows the first affine layer, "
                     "with self.bn_params[0] and self.bn_params[1].")


# ------------------------------------------------------------------------------ helpers

def network_kwargs(cfg: dict, bn: bool, **options) -> dict:
    """The constructor's keywords: the seed's signature, plus ``use_batchnorm=True`` only for batchnorm tests."""
    return {**cfg, **options, **({"use_batchnorm": True} if bn else {})}


def expected_shapes(cfg: dict, bn: bool) -> dict:
    """The documented parameter shapes of a network built with ``cfg``."""
    C, H, W = cfg["input_dim"]
    F, fs, hidden, classes = cfg["num_filters"], cfg["filter_size"], cfg["hidden_dim"], cfg["num_classes"]
    shapes = {"W1": (F, C, fs, fs), "b1": (F,), "W2": (F * (H // 2) * (W // 2), hidden), "b2": (hidden,),
              "W3": (hidden, classes), "b3": (classes,)}
    if bn:
        shapes |= {"gamma1": (F,), "beta1": (F,), "gamma2": (hidden,), "beta2": (hidden,)}
    return shapes


def random_params(rng, cfg: dict, bn: bool) -> dict:
    """Well-scaled parameters (pre-activations of order 1), non-zero biases, gammas away from 0."""
    shapes = expected_shapes(cfg, bn)
    params = {}
    for name, shape in shapes.items():
        if name.startswith("W"):
            params[name] = rng.normal(size=shape) / np.sqrt(np.prod(shape[1:]) if name == "W1" else shape[0])
        elif name.startswith("gamma"):
            params[name] = rng.uniform(0.5, 1.5, size=shape)
        else:
            params[name] = 0.1 * rng.normal(size=shape)
    return params


def random_batch(rng, cfg: dict):
    return rng.normal(size=(N, *cfg["input_dim"])), rng.integers(cfg["num_classes"], size=N)


def reference_model(ref, cfg: dict, bn: bool, reg: float, params: dict):
    """The reference network with the given parameters (its own random init is discarded)."""
    state = np.random.get_state()
    model = ref.ThreeLayerConvNet(**cfg, reg=reg, use_batchnorm=bn, dtype=np.float64)
    np.random.set_state(state)
    model.params = {name: value.copy() for name, value in params.items()}
    return model


def student_model(student, cfg: dict, bn: bool, reg: float, params: dict):
    """The student's network (float64) holding ``params``.

    Built with the student's ``__init__``; if that raises, built without it and given the
    attributes the provided template code sets, so that the loss is still graded.
    """
    try:
        model = student.new(OWNER, **network_kwargs(cfg, bn, reg=reg, dtype=np.float64))
    except StudentCodeFailed as init_error:
        try:
            module = student.call_in("importlib", "import_module", "nnl.cnn")
            cls = student.attr(OWNER, module, OWNER)
            model = student.method(OWNER, cls, "__new__", cls)
            for name, value in [("use_batchnorm", bn), ("reg", reg), ("dtype", np.float64),
                                ("bn_params", [{"mode": "train"} for _ in range(2 if bn else 0)])]:
                student.method(OWNER, model, "__setattr__", name, value)
        except StudentCodeFailed:
            raise init_error from None
    set_params(student, model, params)
    return model


def set_params(student, model, params: dict) -> None:
    student.method(OWNER, model, "__setattr__", "params", {k: v.copy() for k, v in params.items()})


def call_loss(student, model, X, y=None):
    """``model.loss(X, y)`` (the layers are the reference's while isolated); a crash gets an architecture hint."""
    args = (X,) if y is None else (X, y)
    try:
        return student.method(OWNER, model, "loss", *args)
    except StudentCodeFailed as err:
        if "not implemented" in str(err):
            raise
        raise StudentCodeFailed(f"{err} Hint: {ARCHITECTURE_HINT}") from None


def scalar(value, what: str) -> float:
    array = as_array(value, what)
    if array.size != 1:
        raise GradingFailure(f"{what}: got an array of shape {array.shape}, expected a single number.")
    return float(array.reshape(()))


def loss_and_grads(student, model, X, y, names) -> tuple[float, dict]:
    """The student's ``loss(X, y)`` as (float, dict of float64 arrays), checking the return structure."""
    result = call_loss(student, model, X, y)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise GradingFailure(f"{OWNER}.loss(X, y) should return a tuple (loss, grads), got "
                             f"{type(result).__name__}.")
    loss, grads = result
    if not isinstance(grads, dict):
        raise GradingFailure(f"{OWNER}.loss(X, y): grads should be a dict, got {type(grads).__name__}.")
    missing, extra = sorted(set(names) - set(grads)), sorted(set(grads) - set(names))
    if missing or extra:
        raise GradingFailure(f"{OWNER}.loss(X, y): grads must have exactly the keys of self.params; "
                             f"missing {missing}, unexpected {extra}.")
    return scalar(loss, f"{OWNER}.loss(X, y) loss"), grads


def case_id(bn: bool) -> str:
    return "batchnorm" if bn else "plain"


# ------------------------------------------------------------------------------ __init__

@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.parametrize("cfg_name,bn,dtype", [("fs3", False, np.float32), ("fs5", True, np.float64),
                                               ("fs5", False, np.float64), ("fs3", True, np.float32)],
                         ids=["fs3-plain-float32", "fs5-batchnorm-float64", "fs5-plain-float64",
                              "fs3-batchnorm-float32"])
def test_init_param_names_and_shapes(student, cfg_name, bn, dtype):
    cfg = CONFIGS[cfg_name]
    model = student.new(OWNER, **network_kwargs(cfg, bn, weight_scale=1e-2, dtype=dtype))
    params = student.attr(OWNER, model, "params")
    what = f"{OWNER}(input_dim={cfg['input_dim']}, num_filters={cfg['num_filters']}, " \
           f"filter_size={cfg['filter_size']}, hidden_dim={cfg['hidden_dim']}, num_classes={cfg['num_classes']}, " \
           f"use_batchnorm={bn}).params"
    if not isinstance(params, dict):
        raise GradingFailure(f"{what}: should be a dict of arrays, got {type(params).__name__}.")
    expected = expected_shapes(cfg, bn)
    missing, extra = sorted(set(expected) - set(params)), sorted(set(params) - set(expected))
    if missing or extra:
        hint = ("with use_batchnorm=True the params also hold gamma1, beta1 (num_filters,) and gamma2, beta2 "
                "(hidden_dim,); without it they do not." if {"gamma1", "gamma2"} & set(missing + extra)
                else "the names are W1, b1 (conv), W2, b2 (hidden affine), W3, b3 (output affine).")
        raise GradingFailure(f"{what}: missing {missing}, unexpected {extra}. Hint: {hint}")
    C, H, W = cfg["input_dim"]
    F = cfg["num_filters"]
    for name, shape in expected.items():
        actual = as_array(params[name], f"{what}['{name}']").shape
        if actual == shape:
            continue
        hint = {"W1": "W1 is (num_filters, C, filter_size, filter_size).",
                "W3": "W3 is (hidden_dim, num_classes)."}.get(name, f"{name} has one entry per unit of its layer.")
        if name == "W2":
            hint = "W2 has one row per value of the pooled conv output: num_filters * (H/2) * (W/2)."
            if actual[0] == F * H * W:
                hint = "the 2x2 max pool halves H and W before the hidden affine layer: W2 has F*(H/2)*(W/2) rows."
        raise GradingFailure(f"{what}['{name}']: shape {actual}, expected {shape}. Hint: {hint}")
    if dtype == np.float32:
        for name, value in params.items():
            array = as_array(value, f"{what}['{name}']")
            if not np.array_equal(array, array.astype(np.float32)):
                raise GradingFailure(f"{what}['{name}']: not float32 with dtype=np.float32. Hint: keep the "
                                     "provided loop that casts every parameter to dtype, after your code.")


@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.parametrize("weight_scale,bn", [(0.05, False), (0.2, True)], ids=["ws0.05-plain", "ws0.2-batchnorm"])
def test_init_weights_gaussian_with_weight_scale(student, rng, weight_scale, bn):
    student.call_in("numpy.random", "seed", int(rng.integers(2**31)))  # the student's init is random: seed it
    model = student.new(OWNER, **network_kwargs(STATS_CONFIG, bn, weight_scale=weight_scale, dtype=np.float64))
    params = student.attr(OWNER, model, "params")
    if not isinstance(params, dict):
        raise GradingFailure(f"{OWNER}.params should be a dict of arrays, got {type(params).__name__}.")
    for name in WEIGHTS:
        what = f"{OWNER}.params['{name}'] with weight_scale={weight_scale}"
        if name not in params:
            raise GradingFailure(f"{what}: missing.")
        w = as_array(params[name], what)
        n = w.size
        mean, std = float(w.mean()), float(w.std())
        if not np.isfinite(mean) or abs(mean) > 5 * weight_scale / np.sqrt(n):
            raise GradingFailure(f"{what}: sample mean {mean:.3g}, expected about 0 ({n} entries). "
                                 "Hint: a zero-mean Gaussian (np.random.randn), not a uniform draw (np.random.rand).")
        if abs(std / weight_scale - 1) > max(0.05, 5 / np.sqrt(2 * n)):
            raise GradingFailure(f"{what}: sample std {std:.3g}, expected about {weight_scale:g} ({n} entries). "
                                 "Hint: weights are weight_scale * a standard normal draw (np.random.randn), "
                                 "so their std is weight_scale, not weight_scale**2 or 1.")


@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.parametrize("bn", [False, True], ids=case_id)
def test_init_biases_zero_gammas_one(student, bn):
    cfg = CONFIGS["fs5"]
    model = student.new(OWNER, **network_kwargs(cfg, bn, weight_scale=0.1, dtype=np.float64))
    params = student.attr(OWNER, model, "params")
    if not isinstance(params, dict):
        raise GradingFailure(f"{OWNER}.params should be a dict of arrays, got {type(params).__name__}.")
    starts = {"b1": 0.0, "b2": 0.0, "b3": 0.0}
    if bn:
        starts |= {"gamma1": 1.0, "beta1": 0.0, "gamma2": 1.0, "beta2": 0.0}
    for name, start in starts.items():
        what = f"{OWNER}(use_batchnorm={bn}).params['{name}'] after __init__"
        if name not in params:
            raise GradingFailure(f"{what}: missing.")
        shape = expected_shapes(cfg, bn)[name]
        check_close(params[name], np.full(shape, start), what, rtol=0, atol=0,
                    hint="biases and betas start at zeros (np.zeros), gammas at ones (np.ones).")


# ------------------------------------------------------------------------------ scores and loss

@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("bn", [False, True], ids=case_id)
@pytest.mark.parametrize("cfg_name", list(CONFIGS))
def test_scores_match_reference(student, ref, rng, cfg_name, bn):
    """loss(X) with y=None returns the scores; with batchnorm, after one training call (running averages)."""
    cfg = CONFIGS[cfg_name]
    params = random_params(rng, cfg, bn)
    model, reference = student_model(student, cfg, bn, 0.0, params), reference_model(ref, cfg, bn, 0.0, params)
    what = f"{OWNER}.loss(X) scores (y=None, filter_size={cfg['filter_size']}, use_batchnorm={bn})"
    if bn:  # one training step sets the running averages that test mode must use
        X_train, y_train = random_batch(rng, cfg)
        call_loss(student, model, X_train, y_train)
        reference.loss(X_train, y_train)
        what += " after one training call"
    X, _ = random_batch(rng, cfg)
    scores = call_loss(student, model, X)
    if isinstance(scores, (tuple, list)):
        raise GradingFailure(f"{what}: got a {type(scores).__name__}; with y=None return the scores array only.")
    expected = reference.loss(X)
    hint = ARCHITECTURE_HINT
    actual = as_array(scores, what)
    if actual.shape == expected.shape and np.allclose(actual, np.maximum(expected, 0), rtol=1e-6, atol=1e-8):
        hint = "your scores equal the right ones with a ReLU applied: no ReLU after the last affine layer."
    elif bn:
        hint = ("in test mode batchnorm uses the running averages kept in self.bn_params: pass self.bn_params[0] "
                "to the spatial batchnorm and self.bn_params[1] to the batchnorm (the same dicts on every call). "
                + ARCHITECTURE_HINT)
    check_close(actual, expected, what, hint=hint)


@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("bn", [False, True], ids=case_id)
@pytest.mark.parametrize("cfg_name", list(CONFIGS))
def test_loss_matches_reference(student, ref, rng, cfg_name, bn):
    """Data loss with reg=0: softmax loss of the scores."""
    cfg = CONFIGS[cfg_name]
    params = random_params(rng, cfg, bn)
    X, y = random_batch(rng, cfg)
    model = student_model(student, cfg, bn, 0.0, params)
    loss, _ = loss_and_grads(student, model, X, y, params)
    expected, _ = reference_model(ref, cfg, bn, 0.0, params).loss(X, y)
    check_rel_error(loss, expected, f"{OWNER}.loss(X, y) loss (reg=0, filter_size={cfg['filter_size']}, "
                                    f"use_batchnorm={bn})", tol=1e-6,
                    hint="the loss is softmax_loss(scores, y) of the training-mode scores. " + ARCHITECTURE_HINT)


def regularization_hint(loss: float, data_loss: float, reg: float, params: dict) -> str:
    """Name the regularization mistake whose loss equals the student's, if one does."""
    squares = {name: float(np.sum(value ** 2)) for name, value in params.items()}
    weights = sum(squares[name] for name in WEIGHTS)
    others = sum(value for name, value in squares.items() if name not in WEIGHTS)
    biases = sum(squares[name] for name in ("b1", "b2", "b3"))
    candidates = [
        (data_loss, "the loss has no regularization term: add 0.5 * reg * (sum(W1**2) + sum(W2**2) + sum(W3**2))."),
        (data_loss + reg * weights, "the factor 0.5 is missing: the term is 0.5 * reg * sum(W**2)."),
        (data_loss + 0.5 * reg * (weights + biases), "the biases are regularized too: only W1, W2 and W3 are."),
        (data_loss + 0.5 * reg * (weights + others), "biases, gammas or betas are regularized too: only W1, W2 "
                                                     "and W3 are."),
    ]
    for drop in WEIGHTS:
        candidates.append((data_loss + 0.5 * reg * (weights - squares[drop]),
                           f"{drop} is missing from the regularization: it covers W1, W2 and W3."))
    for value, hint in candidates:
        if abs(loss - value) <= 1e-6 * abs(value):
            return "your loss equals the right data loss where " + hint
    return "add 0.5 * reg * sum(W**2) over W1, W2 and W3 (not the biases, gammas or betas) to the data loss."


@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("cfg_name,bn,reg", [("fs3", False, 0.37), ("fs5", True, 1.3)],
                         ids=["fs3-plain-reg0.37", "fs5-batchnorm-reg1.3"])
def test_loss_regularization(student, ref, rng, cfg_name, bn, reg):
    cfg = CONFIGS[cfg_name]
    params = random_params(rng, cfg, bn)
    X, y = random_batch(rng, cfg)
    model = student_model(student, cfg, bn, reg, params)
    loss, _ = loss_and_grads(student, model, X, y, params)
    expected, _ = reference_model(ref, cfg, bn, reg, params).loss(X, y)
    data_loss, _ = reference_model(ref, cfg, bn, 0.0, params).loss(X, y)
    check_rel_error(loss, expected, f"{OWNER}.loss(X, y) loss with reg={reg} (use_batchnorm={bn})", tol=1e-6,
                    hint=regularization_hint(loss, data_loss, reg, params))


# ------------------------------------------------------------------------------ gradients

def gradient_hint(name: str, grad: np.ndarray, expected: np.ndarray, reg: float, params: dict) -> str | None:
    """Name the gradient mistake whose result equals the student's, if one does."""
    if grad.shape != expected.shape:
        return None
    if reg:
        mistakes = [(-reg * params[name], f"the regularization gradient reg * {name} is missing from grads['{name}']."),
                    (reg * params[name], f"the gradient of 0.5 * reg * sum({name}**2) is reg * {name}, added once."
                     if name in WEIGHTS else f"{name} is regularized: only W1, W2 and W3 are.")]
        for offset, hint in mistakes:
            if np.allclose(grad, expected + offset, rtol=1e-6, atol=1e-10):
                return "your gradient equals the right one where " + hint
    if np.all(grad == 0) and not np.allclose(expected, 0.0):
        return f"grads['{name}'] is all zeros: store the gradient the backward pass returns for {name}."
    return None


def check_gradients(grads: dict, expected: dict, bn: bool, reg: float, params: dict, source: str) -> None:
    for name in params:
        what = f"{OWNER}.loss grads['{name}'] (use_batchnorm={bn}, reg={reg}) vs. {source}"
        grad = as_array(grads[name], what)
        hint = gradient_hint(name, grad, np.asarray(expected[name], dtype=np.float64), reg, params)
        if bn and name in ("b1", "b2"):  # a bias before a batchnorm has no effect on the loss
            check_close(grad, np.zeros(params[name].shape), what, rtol=0, atol=1e-8,
                        hint=hint or f"{name} feeds a batch normalization, which removes any constant shift: its "
                                     "gradient is 0. Are the layers in the order affine/conv - batchnorm - relu?")
        else:
            check_rel_error(grad, expected[name], what, tol=GRAD_TOL,
                            hint=hint or f"grads['{name}'] is the gradient the matching backward layer returns "
                                         f"for {name} (plus reg * W for W1, W2, W3); check that the backward "
                                         "passes run in reverse order on the right caches.")


@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("cfg_name,bn,reg", [("fs3", False, 0.0), ("fs5", False, 0.7),
                                             ("fs3", True, 0.7), ("fs5", True, 0.0)],
                         ids=["fs3-plain-reg0", "fs5-plain-reg0.7", "fs3-batchnorm-reg0.7", "fs5-batchnorm-reg0"])
def test_gradients_match_reference(student, ref, rng, cfg_name, bn, reg):
    cfg = CONFIGS[cfg_name]
    params = random_params(rng, cfg, bn)
    X, y = random_batch(rng, cfg)
    model = student_model(student, cfg, bn, reg, params)
    _, grads = loss_and_grads(student, model, X, y, params)
    _, expected = reference_model(ref, cfg, bn, reg, params).loss(X, y)
    check_gradients(grads, expected, bn, reg, params, "the reference")


def conditioned_case(ref, rng, cfg: dict, bn: bool, reg: float, per_weight: int = 2):
    """Parameters, a batch and probe positions where the reference's numerical gradient is exact to 1e-8.

    Positions are drawn among each parameter's largest-gradient entries (one per vector, ``per_weight``
    per weight matrix); b1 and b2 under batchnorm have zero gradient and get one position anywhere.
    """
    for _ in range(20):
        params = random_params(rng, cfg, bn)
        X, y = random_batch(rng, cfg)
        model = reference_model(ref, cfg, bn, reg, params)
        _, grads = model.loss(X, y)
        positions = {}
        for name, grad in grads.items():
            count = per_weight if name in WEIGHTS else 1
            if bn and name in ("b1", "b2"):
                flat = rng.choice(grad.size, size=count, replace=False)
            else:
                largest = np.argsort(-np.abs(grad), axis=None)[:max(count, grad.size // 4)]
                flat = rng.choice(largest, size=count, replace=False)
            positions[name] = [np.unravel_index(i, grad.shape) for i in flat]

        def reference_loss(batch, name):
            losses = []
            for (probe,) in batch:
                model.params = {**params, name: probe}
                losses.append(model.loss(X, y)[0])
            model.params = dict(params)
            return losses

        exact = True
        for name, where in positions.items():
            num = numerical_gradient(lambda batch: reference_loss(batch, name), [params[name]], 0, np.ones(()),
                                     positions=where)
            picked = tuple(np.array(where).T)
            if bn and name in ("b1", "b2"):
                exact &= bool(np.max(np.abs(num[picked])) < 1e-8)
            else:
                exact &= rel_error(num[picked], grads[name][picked]) < 1e-8
        if exact:
            return params, X, y, positions
    raise GraderError("no well-conditioned input for the numerical gradient in 20 draws")


@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("cfg_name,bn,reg", [("fs3", False, 0.4), ("fs5", True, 0.4)],
                         ids=["fs3-plain-reg0.4", "fs5-batchnorm-reg0.4"])
def test_gradients_match_numerical(student, ref, rng, cfg_name, bn, reg):
    """Each parameter's gradient vs. a sparse numerical gradient of the student's own loss."""
    cfg = CONFIGS[cfg_name]
    params, X, y, positions = conditioned_case(ref, rng, cfg, bn, reg)
    model = student_model(student, cfg, bn, reg, params)
    _, grads = loss_and_grads(student, model, X, y, params)

    def student_losses(batch, name):
        losses = []
        for (probe,) in batch:
            set_params(student, model, {**params, name: probe})
            losses.append(loss_and_grads(student, model, X, y, params)[0])
        return losses

    for name, where in positions.items():
        what = (f"{OWNER}.loss grads['{name}'] (use_batchnorm={bn}, reg={reg}) vs. the numerical gradient of "
                f"your loss at {len(where)} position(s)")
        grad = as_array(grads[name], what)
        if grad.shape != params[name].shape:
            raise GradingFailure(f"{what}: shape {grad.shape}, expected {params[name].shape}.")
        num = numerical_gradient(lambda batch: student_losses(batch, name), [params[name]], 0, np.ones(()),
                                 positions=where)
        picked = tuple(np.array(where).T)
        if bn and name in ("b1", "b2"):
            check_close(grad[picked], num[picked], what, rtol=0, atol=1e-7,
                        hint=f"{name} feeds a batch normalization: the loss does not change with it, so its "
                             "gradient is 0.")
        else:
            check_rel_error(grad[picked], num[picked], what, tol=GRAD_TOL,
                            hint=f"grads['{name}'] must be the derivative of the loss you return, "
                                 "regularization included (reg * W for W1, W2, W3; nothing for the others).")
