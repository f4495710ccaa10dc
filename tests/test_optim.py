"""The reference update rules in source/cnn/nnl/optim.py.

Each rule runs several steps with the returned config fed back in, against an
update written out independently here, element by element.
"""
import numpy as np
import pytest

from nnl.optim import adam, rmsprop, sgd, sgd_momentum

SHAPES = [(5,), (4, 5), (2, 3, 4)]
STEPS = 6


def gradients(rng, shape, steps=STEPS):
    """A different gradient for every step, so that moving averages matter."""
    return [rng.standard_normal(shape) * (k + 1) for k in range(steps)]


def expected_sgd(w0, dws, lr=1e-2):
    w = w0.copy()
    for dw in dws:
        for ix in np.ndindex(w.shape):
            w[ix] = w[ix] - lr * dw[ix]
    return w


def expected_sgd_momentum(w0, dws, lr=1e-2, mu=0.9):
    w, v = w0.copy(), np.zeros_like(w0)
    for dw in dws:
        for ix in np.ndindex(w.shape):
            v[ix] = mu * v[ix] - lr * dw[ix]
            w[ix] = w[ix] + v[ix]
    return w, v


def expected_rmsprop(w0, dws, lr=1e-2, decay=0.99, eps=1e-8):
    w, cache = w0.copy(), np.zeros_like(w0)
    for dw in dws:
        for ix in np.ndindex(w.shape):
            cache[ix] = decay * cache[ix] + (1 - decay) * dw[ix] ** 2
            w[ix] = w[ix] - lr * dw[ix] / (np.sqrt(cache[ix]) + eps)
    return w, cache


def expected_adam(w0, dws, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    for t, dw in enumerate(dws, start=1):  # t is 1 at the first update
        for ix in np.ndindex(w.shape):
            m[ix] = b1 * m[ix] + (1 - b1) * dw[ix]
            v[ix] = b2 * v[ix] + (1 - b2) * dw[ix] ** 2
            m_hat = m[ix] / (1 - b1 ** t)
            v_hat = v[ix] / (1 - b2 ** t)
            w[ix] = w[ix] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w, m, v, len(dws)


def run(rule, w0, dws, config=None):
    """Feed each step's returned config into the next step, as the Solver does."""
    w = w0
    for dw in dws:
        w, config = rule(w, dw, config)
    return w, config


def assert_close(name, actual, expected):
    assert np.shape(actual) == np.shape(expected), f"{name} has shape {np.shape(actual)}, expected {np.shape(expected)}"
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15, err_msg=f"{name} after {STEPS} steps differs from the update rule")


# ---------------------------------------------------------------- sgd

@pytest.mark.parametrize("shape", SHAPES)
def test_sgd_default_learning_rate(rng, shape):
    w0 = rng.standard_normal(shape)
    dws = gradients(rng, shape)
    w, config = run(sgd, w0, dws)
    assert config['learning_rate'] == 1e-2, "sgd's default learning_rate is 1e-2"
    assert_close("sgd next_w", w, expected_sgd(w0, dws))


@pytest.mark.parametrize("lr", [1e-3, 0.5])
def test_sgd_custom_learning_rate(rng, lr):
    w0 = rng.standard_normal((3, 4))
    dws = gradients(rng, (3, 4))
    w, _ = run(sgd, w0, dws, {'learning_rate': lr})
    assert_close("sgd next_w", w, expected_sgd(w0, dws, lr=lr))


# ---------------------------------------------------------------- sgd_momentum

@pytest.mark.parametrize("shape", SHAPES)
def test_sgd_momentum_defaults_several_steps(rng, shape):
    w0 = rng.standard_normal(shape)
    dws = gradients(rng, shape)
    w, config = run(sgd_momentum, w0, dws)
    expected_w, expected_v = expected_sgd_momentum(w0, dws)
    assert (config['learning_rate'], config['momentum']) == (1e-2, 0.9), "defaults: learning_rate 1e-2, momentum 0.9"
    assert_close("sgd_momentum next_w", w, expected_w)
    assert_close("sgd_momentum velocity", config['velocity'], expected_v)


@pytest.mark.parametrize("lr,mu", [(1e-3, 0.5), (0.1, 0.99)])
def test_sgd_momentum_custom_hyperparameters(rng, lr, mu):
    w0 = rng.standard_normal((3, 4))
    dws = gradients(rng, (3, 4))
    w, config = run(sgd_momentum, w0, dws, {'learning_rate': lr, 'momentum': mu})
    expected_w, expected_v = expected_sgd_momentum(w0, dws, lr=lr, mu=mu)
    assert_close("sgd_momentum next_w", w, expected_w)
    assert_close("sgd_momentum velocity", config['velocity'], expected_v)


def test_sgd_momentum_with_zero_momentum_is_sgd(rng):
    w0 = rng.standard_normal((4, 3))
    dws = gradients(rng, (4, 3))
    w, _ = run(sgd_momentum, w0, dws, {'learning_rate': 0.05, 'momentum': 0.0})
    assert_close("sgd_momentum (momentum 0) next_w", w, expected_sgd(w0, dws, lr=0.05))


def test_sgd_momentum_uses_given_velocity(rng):
    w0, dw, v0 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    next_w, config = sgd_momentum(w0, dw, {'learning_rate': 0.1, 'momentum': 0.8, 'velocity': v0.copy()})
    v = 0.8 * v0 - 0.1 * dw
    assert_close("sgd_momentum velocity", config['velocity'], v)
    assert_close("sgd_momentum next_w", next_w, w0 + v)


# ---------------------------------------------------------------- rmsprop

@pytest.mark.parametrize("shape", SHAPES)
def test_rmsprop_defaults_several_steps(rng, shape):
    w0 = rng.standard_normal(shape)
    dws = gradients(rng, shape)
    w, config = run(rmsprop, w0, dws)
    expected_w, expected_cache = expected_rmsprop(w0, dws)
    assert (config['learning_rate'], config['decay_rate'], config['epsilon']) == (1e-2, 0.99, 1e-8), (
        "defaults: learning_rate 1e-2, decay_rate 0.99, epsilon 1e-8"
    )
    assert_close("rmsprop next_w", w, expected_w)
    assert_close("rmsprop cache", config['cache'], expected_cache)


@pytest.mark.parametrize("lr,decay,eps", [(1e-3, 0.9, 1e-6), (0.1, 0.5, 1e-8)])
def test_rmsprop_custom_hyperparameters(rng, lr, decay, eps):
    w0 = rng.standard_normal((3, 4))
    dws = gradients(rng, (3, 4))
    w, config = run(rmsprop, w0, dws, {'learning_rate': lr, 'decay_rate': decay, 'epsilon': eps})
    expected_w, expected_cache = expected_rmsprop(w0, dws, lr=lr, decay=decay, eps=eps)
    assert_close("rmsprop next_w", w, expected_w)
    assert_close("rmsprop cache", config['cache'], expected_cache)


# ---------------------------------------------------------------- adam

@pytest.mark.parametrize("shape", SHAPES)
def test_adam_defaults_several_steps(rng, shape):
    w0 = rng.standard_normal(shape)
    dws = gradients(rng, shape)
    w, config = run(adam, w0, dws)
    expected_w, expected_m, expected_v, _ = expected_adam(w0, dws)
    defaults = (config['learning_rate'], config['beta1'], config['beta2'], config['epsilon'])
    assert defaults == (1e-3, 0.9, 0.999, 1e-8), "defaults: learning_rate 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-8"
    assert_close("adam next_w", w, expected_w)
    assert_close("adam m", config['m'], expected_m)
    assert_close("adam v", config['v'], expected_v)


@pytest.mark.parametrize("lr,b1,b2", [(1e-2, 0.8, 0.99), (0.1, 0.5, 0.9)])
def test_adam_custom_hyperparameters(rng, lr, b1, b2):
    w0 = rng.standard_normal((3, 4))
    dws = gradients(rng, (3, 4))
    w, config = run(adam, w0, dws, {'learning_rate': lr, 'beta1': b1, 'beta2': b2})
    expected_w, expected_m, expected_v, _ = expected_adam(w0, dws, lr=lr, b1=b1, b2=b2)
    assert_close("adam next_w", w, expected_w)
    assert_close("adam m", config['m'], expected_m)
    assert_close("adam v", config['v'], expected_v)


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_adam_counts_steps_in_t(rng, steps):
    w0 = rng.standard_normal(4)
    _, config = run(adam, w0, gradients(rng, 4, steps))
    assert config['t'] == steps, f"after {steps} updates from t = 0, t should be {steps}, got {config['t']}"


def test_adam_first_step_is_bias_corrected(rng):
    """With t incremented before the correction, m_hat = dw and v_hat = dw**2 at step 1: each weight moves by ~lr."""
    w0 = rng.standard_normal(6)
    dw = rng.uniform(0.1, 2.0, 6) * rng.choice([-1.0, 1.0], 6)
    next_w, _ = adam(w0, dw)
    np.testing.assert_allclose(w0 - next_w, 1e-3 * dw / (np.abs(dw) + 1e-8), rtol=1e-9,
                               err_msg="the first Adam step should move each weight by learning_rate * sign(dw)")


def test_adam_continues_from_given_t(rng):
    w0, dw = rng.standard_normal(3), rng.standard_normal(3)
    m0, v0 = rng.standard_normal(3), rng.uniform(0.1, 1.0, 3)
    config = {'m': m0.copy(), 'v': v0.copy(), 't': 4}
    next_w, config = adam(w0, dw, config)
    m = 0.9 * m0 + 0.1 * dw
    v = 0.999 * v0 + 0.001 * dw ** 2
    expected = w0 - 1e-3 * (m / (1 - 0.9 ** 5)) / (np.sqrt(v / (1 - 0.999 ** 5)) + 1e-8)
    assert config['t'] == 5, f"t should go from 4 to 5, got {config['t']}"
    assert_close("adam next_w", next_w, expected)


# ---------------------------------------------------------------- all rules

RULES = [sgd, sgd_momentum, rmsprop, adam]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_update_does_not_modify_inputs(rng, rule):
    w, dw = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    w_before, dw_before = w.copy(), dw.copy()
    next_w, _ = rule(w, dw)
    np.testing.assert_array_equal(w, w_before, err_msg=f"{rule.__name__} modified w in place; return a new next_w")
    np.testing.assert_array_equal(dw, dw_before, err_msg=f"{rule.__name__} modified dw in place")
    assert next_w is not w, f"{rule.__name__} returned w itself as next_w"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_update_returns_config_dict(rng, rule):
    w = rng.standard_normal(5)
    next_w, config = rule(w, rng.standard_normal(5), None)
    assert next_w.shape == w.shape, f"{rule.__name__} next_w shape {next_w.shape} != w shape {w.shape}"
    assert isinstance(config, dict), f"{rule.__name__} should return its config dict, got {type(config).__name__}"
    assert 'learning_rate' in config, f"{rule.__name__} config lacks its learning_rate default"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_zero_gradient_leaves_weights(rng, rule):
    w = rng.standard_normal(5)
    next_w, _ = rule(w, np.zeros(5))
    np.testing.assert_array_equal(next_w, w, err_msg=f"{rule.__name__} moved w with a zero gradient from a fresh config")


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_update_descends_a_quadratic(rng, rule):
    """Minimizing 0.5 * |w|^2 (gradient w) for a few hundred steps must bring w towards 0."""
    w = rng.standard_normal(4)
    start = np.linalg.norm(w)
    config = {'learning_rate': 1e-2}
    for _ in range(300):
        w, config = rule(w, w, config)
    assert np.linalg.norm(w) < 0.5 * start, f"{rule.__name__} did not descend: |w| went from {start:.3f} to {np.linalg.norm(w):.3f}"
