"""Hidden tests of the update rules in ``nnl/optim.py``: sgd, sgd_momentum, rmsprop, adam.

Each test runs several steps with fresh gradients, feeding the returned
``config`` (decoded into a dict) and ``next_w`` back into the next call,
and runs the reference the same way. It compares the update of every step,
``next_w - w``, so that small, correct differences of form (the Adam
"epsilon hat" form, a velocity stored with another sign or scale) pass while
a missing bias correction or a lost state does not. The state inside
``config`` is never compared directly: only its effect on the steps.
"""
import copy

import numpy as np
import pytest

from autograder.grading.checks import GradingFailure, check_close, check_shape


def _run(student, ref, name, w, grads, config, *, rtol, hints):
    """Step the student's and the reference's ``name`` side by side; fail at the first wrong update.

    ``hints(step, student_update, dw)`` gives the hint for a wrong step.
    """
    ref_update = getattr(ref, name)
    theirs_w, theirs_cfg = w, copy.deepcopy(config)
    ours_w, ours_cfg = w, copy.deepcopy(config)
    for step, dw in enumerate(grads, start=1):
        result = student.call(name, theirs_w, dw, theirs_cfg)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise GradingFailure(f"{name}: expected a tuple (next_w, config), got {type(result).__name__}.")
        next_w, theirs_cfg = result
        next_w = check_shape(next_w, w.shape, f"{name} next_w at step {step}", hint="next_w has the shape of w.")
        ours_next, ours_cfg = ref_update(ours_w, dw, ours_cfg)
        theirs_update, ours_update = next_w - theirs_w, ours_next - ours_w
        check_close(theirs_update, ours_update,
                    f"{name} update next_w - w at step {step} of {len(grads)} (config fed back)",
                    rtol=rtol, atol=1e-10, hint=hints(step, theirs_update, dw))
        theirs_w, ours_w = next_w, ours_next


def _state_hint(step, default):
    """At a later step, the usual cause is state that is not carried over in config."""
    if step > 1:
        return (f"step 1 was right: is the state stored back into config and read from it at the next call? "
                f"({default})")
    return default


# ------------------------------------------------------------------ sgd

@pytest.mark.grades("sgd")
@pytest.mark.parametrize("shape,config", [((5,), {"learning_rate": 0.1}), ((3, 4), {"learning_rate": 1e-3})],
                         ids=["lr0.1", "lr1e-3"])
def test_sgd_steps_match_reference(student, ref, rng, shape, config):
    w = rng.normal(size=shape)
    grads = [rng.normal(size=shape) for _ in range(3)]

    def hints(step, update, dw):
        if np.allclose(update, config["learning_rate"] * dw):
            return "your step follows the gradient; step against it: next_w = w - learning_rate * dw."
        if np.allclose(update, -dw):
            return "the learning rate is missing: next_w = w - config['learning_rate'] * dw."
        return "next_w = w - config['learning_rate'] * dw."

    _run(student, ref, "sgd", w, grads, config, rtol=1e-6, hints=hints)


# ------------------------------------------------------------------ sgd with momentum

@pytest.mark.grades("sgd_momentum")
@pytest.mark.parametrize("shape,config", [((4, 5), {"learning_rate": 5e-2, "momentum": 0.9}),
                                          ((6,), {"learning_rate": 1e-2, "momentum": 0.5}),
                                          ((3, 2), None)],
                         ids=["mom0.9", "mom0.5", "defaults"])
def test_sgd_momentum_steps_match_reference(student, ref, rng, shape, config):
    w = rng.normal(size=shape)
    grads = [rng.normal(size=shape) for _ in range(4)]

    def hints(step, update, dw):
        return _state_hint(step, "v = momentum * v - learning_rate * dw; next_w = w + v; keep v in "
                                 "config['velocity'].")

    _run(student, ref, "sgd_momentum", w, grads, config, rtol=1e-6, hints=hints)


# ------------------------------------------------------------------ RMSProp

@pytest.mark.grades("rmsprop")
@pytest.mark.parametrize("shape,config", [((4, 5), {"learning_rate": 1e-2, "decay_rate": 0.99}),
                                          ((7,), {"learning_rate": 1e-3, "decay_rate": 0.9, "epsilon": 1e-6}),
                                          ((2, 3), None)],
                         ids=["decay0.99", "decay0.9", "defaults"])
def test_rmsprop_steps_match_reference(student, ref, rng, shape, config):
    w = rng.normal(size=shape)
    grads = [rng.normal(size=shape) * rng.uniform(0.5, 2.0) for _ in range(4)]

    def hints(step, update, dw):
        return _state_hint(step, "cache = decay_rate * cache + (1 - decay_rate) * dw**2; "
                                 "next_w = w - learning_rate * dw / (np.sqrt(cache) + epsilon).")

    _run(student, ref, "rmsprop", w, grads, config, rtol=1e-5, hints=hints)


# ------------------------------------------------------------------ Adam

def _adam_grads(rng, shape, steps):
    """Gradients of either sign and magnitude 0.5 to 2: away from 0, where the epsilon forms differ."""
    return [rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape) for _ in range(steps)]


@pytest.mark.grades("adam")
@pytest.mark.parametrize("shape,config", [((4, 5), None),
                                          ((6,), {"learning_rate": 1e-2, "beta1": 0.8, "beta2": 0.99}),
                                          ((3, 3), {"learning_rate": 5e-3, "t": 0})],
                         ids=["defaults", "beta0.8-0.99", "t0-given"])
def test_adam_steps_match_reference(student, ref, rng, shape, config):
    w = rng.normal(size=shape)
    grads = _adam_grads(rng, shape, 5)
    given = config or {}
    lr, beta1, beta2 = given.get("learning_rate", 1e-3), given.get("beta1", 0.9), given.get("beta2", 0.999)

    def hints(step, update, dw):
        if not np.isfinite(update).all():
            return "with t = 0, 1 - beta1**t is 0: increment t BEFORE the bias correction (the first step uses t = 1)."
        if step == 1 and np.allclose(np.abs(update), lr * (1 - beta1) / np.sqrt(1 - beta2), rtol=1e-3):
            return "m and v need the bias correction: m / (1 - beta1**t) and v / (1 - beta2**t)."
        return _state_hint(step, "t += 1 first; m and v are moving averages of dw and dw**2; bias-correct both; "
                                 "next_w = w - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon).")

    _run(student, ref, "adam", w, grads, config, rtol=1e-5, hints=hints)
