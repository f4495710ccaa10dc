"""ThreeLayerConvNet of the solution source: parameters, loss, gradients, and that it can learn.

Gradient checks run in float64 on a small non-square input with reg > 0, so
the regularization gradients are checked too. They compare whole parameter
gradients by norm, ||analytic - numerical|| / (||analytic|| + ||numerical||):
a real bug (a missing term, a transposed weight) costs O(1), a ReLU or
max-pool kink crossed by one finite-difference step costs one element.
"""
import numpy as np
import pytest

from nnl.cnn import ThreeLayerConvNet
from nnl.optim import adam
from utils.gradient_check import eval_numerical_gradient

GRAD_TOL = 1e-6

WEIGHTS = ("W1", "W2", "W3")
PLAIN_PARAMS = ("W1", "b1", "W2", "b2", "W3", "b3")
BATCHNORM_PARAMS = PLAIN_PARAMS + ("gamma1", "beta1", "gamma2", "beta2")


def expected_shapes(input_dim, num_filters, filter_size, hidden_dim, num_classes, use_batchnorm):
    C, H, W = input_dim
    shapes = {
        "W1": (num_filters, C, filter_size, filter_size), "b1": (num_filters,),
        "W2": (num_filters * (H // 2) * (W // 2), hidden_dim), "b2": (hidden_dim,),
        "W3": (hidden_dim, num_classes), "b3": (num_classes,),
    }
    if use_batchnorm:
        shapes |= {"gamma1": (num_filters,), "beta1": (num_filters,),
                   "gamma2": (hidden_dim,), "beta2": (hidden_dim,)}
    return shapes


def small_model(use_batchnorm, reg=0.1, dtype=np.float64, seed=0):
    """3 filters of 3x3 on 3x10x12 images, 7 hidden units: small enough for full numerical gradients."""
    np.random.seed(seed)
    return ThreeLayerConvNet(input_dim=(3, 10, 12), num_filters=3, filter_size=3, hidden_dim=7,
                             weight_scale=0.1, reg=reg, dtype=dtype, use_batchnorm=use_batchnorm)


def small_batch(n=4, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3, 10, 12)), rng.integers(10, size=n)


# ---------------------------------------------------------------- parameters

@pytest.mark.parametrize("use_batchnorm", [False, True], ids=["plain", "batchnorm"])
@pytest.mark.parametrize("input_dim,num_filters,filter_size,hidden_dim,num_classes", [
    ((3, 32, 32), 32, 7, 100, 10),
    ((3, 10, 12), 4, 5, 20, 6),
    ((1, 9, 7), 2, 3, 5, 3),
])
def test_param_shapes(input_dim, num_filters, filter_size, hidden_dim, num_classes, use_batchnorm):
    model = ThreeLayerConvNet(input_dim=input_dim, num_filters=num_filters, filter_size=filter_size,
                              hidden_dim=hidden_dim, num_classes=num_classes, use_batchnorm=use_batchnorm)
    expected = expected_shapes(input_dim, num_filters, filter_size, hidden_dim, num_classes, use_batchnorm)
    shapes = {name: value.shape for name, value in model.params.items()}
    assert shapes == expected, f"param shapes {shapes}, expected {expected}"


def test_default_hidden_dim_is_100():
    model = ThreeLayerConvNet()
    assert model.params["W2"].shape == (32 * 16 * 16, 100), f"W2 shape {model.params['W2'].shape}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("use_batchnorm", [False, True], ids=["plain", "batchnorm"])
def test_params_are_cast_to_dtype(dtype, use_batchnorm):
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=2, hidden_dim=5, dtype=dtype,
                              use_batchnorm=use_batchnorm)
    wrong = {name: value.dtype for name, value in model.params.items() if value.dtype != dtype}
    assert not wrong, f"params not cast to {np.dtype(dtype)}: {wrong}"


@pytest.mark.parametrize("use_batchnorm", [False, True], ids=["plain", "batchnorm"])
def test_initial_values(use_batchnorm):
    """Weights ~ N(0, weight_scale^2), biases and betas zeros, gammas ones."""
    np.random.seed(3)
    model = ThreeLayerConvNet(weight_scale=0.05, dtype=np.float64, use_batchnorm=use_batchnorm)
    for name in WEIGHTS:
        std, mean = model.params[name].std(), model.params[name].mean()
        assert abs(std - 0.05) < 0.005, f"{name} std {std:.4f}, expected weight_scale 0.05"
        assert abs(mean) < 0.005, f"{name} mean {mean:.4f}, expected 0"
    for name, value in model.params.items():
        if name.startswith(("b", "beta")):
            assert not value.any(), f"{name} must start at zeros"
        if name.startswith("gamma"):
            assert np.all(value == 1), f"{name} must start at ones"


# ---------------------------------------------------------------- loss and scores

def test_scores_when_no_labels():
    model = small_model(use_batchnorm=False)
    X, _ = small_batch(n=5)
    scores = model.loss(X)
    got = getattr(scores, "shape", scores)
    assert isinstance(scores, np.ndarray) and scores.shape == (5, 10), \
        f"loss(X) without y must return scores of shape (N, num_classes) = (5, 10), got {got}"


@pytest.mark.parametrize("use_batchnorm", [False, True], ids=["plain", "batchnorm"])
def test_grads_have_the_keys_of_params(use_batchnorm):
    model = small_model(use_batchnorm)
    _, grads = model.loss(*small_batch())
    assert set(grads) == set(model.params), f"grads keys {sorted(grads)}, params keys {sorted(model.params)}"
    shapes = {name: (grads[name].shape, value.shape) for name, value in model.params.items()
              if grads[name].shape != value.shape}
    assert not shapes, f"grads shapes differ from params shapes (grad, param): {shapes}"


@pytest.mark.parametrize("use_batchnorm", [False, True], ids=["plain", "batchnorm"])
def test_initial_loss_is_log_of_num_classes(use_batchnorm):
    """Tiny weights give near-uniform scores: the softmax loss starts at log(10)."""
    np.random.seed(0)
    model = ThreeLayerConvNet(input_dim=(3, 16, 16), num_filters=4, hidden_dim=20, weight_scale=1e-3,
                              reg=0.0, dtype=np.float64, use_batchnorm=use_batchnorm)
    rng = np.random.default_rng(0)
    loss, _ = model.loss(rng.standard_normal((10, 3, 16, 16)), rng.integers(10, size=10))
    assert abs(loss - np.log(10)) < 0.01, f"initial loss {loss:.4f}, expected about log(10) = {np.log(10):.4f}"


@pytest.mark.parametrize("use_batchnorm", [False, True], ids=["plain", "batchnorm"])
def test_regularization_adds_half_reg_times_squared_weights(use_batchnorm):
    """loss(reg) - loss(0) = 0.5 * reg * (|W1|^2 + |W2|^2 + |W3|^2); biases, gammas and betas are not regularized."""
    model = small_model(use_batchnorm, reg=0.0)
    for name in model.params:  # non-zero biases, gammas and betas: regularizing them would show
        model.params[name] += 0.1
    X, y = small_batch()
    loss_without, _ = model.loss(X, y)
    model.reg = 0.7
    loss_with, _ = model.loss(X, y)
    expected = 0.5 * 0.7 * sum(np.sum(model.params[name] ** 2) for name in WEIGHTS)
    assert loss_with > loss_without, "reg > 0 must make the loss larger"
    assert abs((loss_with - loss_without) - expected) < 1e-10, \
        f"regularization term {loss_with - loss_without:.6f}, expected 0.5 * reg * sum(W**2) = {expected:.6f}"


# ---------------------------------------------------------------- gradients

def norm_error(analytic, numerical):
    return np.linalg.norm(analytic - numerical) / max(np.linalg.norm(analytic) + np.linalg.norm(numerical), 1e-300)


def numerical_gradient(model, name, X, y):
    return eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False, h=1e-5)


@pytest.mark.parametrize("name", PLAIN_PARAMS)
def test_gradient_without_batchnorm(name):
    model = small_model(use_batchnorm=False)
    X, y = small_batch()
    _, grads = model.loss(X, y)
    error = norm_error(grads[name], numerical_gradient(model, name, X, y))
    assert error < GRAD_TOL, f"d{name}: relative error {error:.1e} > {GRAD_TOL:.0e} against the numerical gradient"


# With batchnorm right after them, b1 and b2 have no effect on the loss: their gradient is zero (next test).
@pytest.mark.parametrize("name", [p for p in BATCHNORM_PARAMS if p not in ("b1", "b2")])
def test_gradient_with_batchnorm(name):
    model = small_model(use_batchnorm=True)
    X, y = small_batch()
    _, grads = model.loss(X, y)
    error = norm_error(grads[name], numerical_gradient(model, name, X, y))
    assert error < GRAD_TOL, f"d{name}: relative error {error:.1e} > {GRAD_TOL:.0e} against the numerical gradient"


@pytest.mark.parametrize("name", ["b1", "b2"])
def test_gradient_of_biases_before_batchnorm_is_zero(name):
    """Batchnorm subtracts the batch mean, and the bias with it: analytic and numerical gradients vanish."""
    model = small_model(use_batchnorm=True)
    X, y = small_batch()
    _, grads = model.loss(X, y)
    numerical = numerical_gradient(model, name, X, y)
    assert np.max(np.abs(numerical)) < 1e-8, "the numerical gradient should vanish; check the test set-up"
    assert np.max(np.abs(grads[name])) < 1e-8, f"d{name} = {grads[name]}, expected zeros"


# ---------------------------------------------------------------- batchnorm modes

def test_batchnorm_params_are_one_dict_per_batchnorm_layer():
    assert ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=2, hidden_dim=5).bn_params == [], \
        "without batchnorm, bn_params is empty"
    bn_params = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=2, hidden_dim=5, use_batchnorm=True).bn_params
    assert len(bn_params) == 2 and all(isinstance(p, dict) for p in bn_params), \
        f"with batchnorm, bn_params must be two dicts (spatial batchnorm, batchnorm), got {bn_params}"


def test_training_call_updates_running_averages_in_bn_params():
    model = small_model(use_batchnorm=True)
    model.loss(*small_batch())
    shapes = [(p["mode"], p["running_mean"].shape, p["running_var"].shape) for p in model.bn_params]
    assert shapes == [("train", (3,), (3,)), ("train", (7,), (7,))], \
        f"after loss(X, y): (mode, running_mean, running_var shapes) = {shapes}"


def test_scoring_without_labels_runs_batchnorm_in_test_mode():
    """In test mode an image's scores must not depend on the rest of the batch."""
    model = small_model(use_batchnorm=True)
    X, y = small_batch(n=6)
    model.loss(X, y)  # one training step's running averages
    alone, together = model.loss(X[:1]), model.loss(X)
    assert [p["mode"] for p in model.bn_params] == ["test", "test"], "loss(X) must set every bn_param's mode to 'test'"
    assert np.allclose(alone[0], together[0], rtol=0, atol=1e-12), \
        "scores of X[0] change with the batch: batchnorm used batch statistics at test time"


# ---------------------------------------------------------------- learning

@pytest.mark.parametrize("use_batchnorm", [False, True], ids=["plain", "batchnorm"])
def test_overfits_fifty_images(use_batchnorm):
    """Full-batch Adam memorizes 50 random images with random labels: 100% train accuracy."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3, 8, 8)).astype(np.float32)
    y = rng.integers(10, size=50)
    np.random.seed(0)
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=8, filter_size=3, hidden_dim=100,
                              weight_scale=1e-2, use_batchnorm=use_batchnorm)
    configs = {name: {"learning_rate": 5e-3} for name in model.params}
    accuracy, steps = 0.0, 0
    while accuracy < 1.0 and steps < 150:
        _, grads = model.loss(X, y)
        for name in model.params:
            model.params[name], configs[name] = adam(model.params[name], grads[name], configs[name])
        accuracy = np.mean(np.argmax(model.loss(X), axis=1) == y)
        steps += 1
    assert accuracy == 1.0, f"train accuracy {accuracy:.2f} after {steps} Adam steps, expected 1.00"
