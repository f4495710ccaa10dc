"""Hidden-test helpers for a graded model class: a network with ``params`` and ``loss(X, y=None)``.

The CS231n convention: ``model.params`` maps names (``W1``, ``b1``, ``gamma1``...) to arrays;
``model.loss(X)`` returns the scores, ``model.loss(X, y)`` returns ``(loss, grads)`` with the
keys of ``params``; the loss adds ``0.5 * reg * sum(W**2)`` over the weight matrices.

`Network` calls the student's class through `Student` (so through the sandbox); the checks
compare decoded arrays in the grader, with messages that name the parameter and the mistake.
A test grades a network's own logic by running with ``@pytest.mark.isolates(<its layers>)``:
first on the student's own layers, then, if that fails, on the reference's.
"""
from __future__ import annotations

import numpy as np

from autograder.grading.checks import GradingFailure, as_array, check_close, check_rel_error, numerical_gradient
from autograder.grading.checks import rel_error
from autograder.grading.student import StudentCodeFailed

GRAD_TOL = 1e-6


def scalar(value, what: str) -> float:
    """A single number the student returned, or a failure saying what came back."""
    array = as_array(value, what)
    if array.size != 1:
        raise GradingFailure(f"{what}: got an array of shape {array.shape}, expected a single number.")
    return float(array.reshape(()))


def copies(params: dict) -> dict:
    """``params`` with each array copied."""
    return {name: value.copy() for name, value in params.items()}


def reference_model(factory, params: dict):
    """``factory()`` (the reference class built with some keywords) holding copies of ``params``.

    The reference's own random initialization is discarded and does not consume the global RNG.
    """
    state = np.random.get_state()
    model = factory()
    np.random.set_state(state)
    model.params = copies(params)
    return model


class Network:
    """The student's graded model class ``owner`` (``ThreeLayerConvNet``), called through the sandbox.

    Parameters
    ----------
    student : Student
    owner : str
        The graded class, as the rubric names it.
    architecture_hint : str
        Appended to a crash of ``loss`` (what the layers should be).
    """

    def __init__(self, student, owner: str, architecture_hint: str = ""):
        self.student, self.owner, self.architecture_hint = student, owner, architecture_hint

    def new(self, **kwargs):
        """An instance built by the student's ``__init__`` with ``kwargs``."""
        return self.student.new(self.owner, **kwargs)

    def build(self, kwargs: dict, params: dict, template_attributes: dict):
        """An instance holding ``params``, built with ``kwargs``.

        If the student's ``__init__`` raises, the instance is made without it (``__new__``) and given
        ``template_attributes`` (what the provided template code sets) and ``params``, so that
        ``loss`` is still graded and an ``__init__`` bug costs the ``__init__`` tests only.
        """
        try:
            model = self.new(**kwargs)
        except StudentCodeFailed as init_error:
            try:
                return self.student.bare(self.owner, {**template_attributes, "params": copies(params)})
            except StudentCodeFailed:
                raise init_error from None
        self.set_params(model, params)
        return model

    def set_params(self, model, params: dict) -> None:
        self.student.method(self.owner, model, "__setattr__", "params", copies(params))

    def params(self, model, what: str) -> dict:
        """The instance's ``params``, checked to be a dict."""
        params = self.student.attr(self.owner, model, "params")
        if not isinstance(params, dict):
            raise GradingFailure(f"{what}: should be a dict of arrays, got {type(params).__name__}.")
        return params

    def loss(self, model, X, y=None):
        """``model.loss(X)`` or ``model.loss(X, y)``; a crash gets the architecture hint."""
        args = (X,) if y is None else (X, y)
        try:
            return self.student.method(self.owner, model, "loss", *args)
        except StudentCodeFailed as err:
            if "not implemented" in str(err) or not self.architecture_hint:
                raise
            raise StudentCodeFailed(f"{err} Hint: {self.architecture_hint}") from None

    def scores(self, model, X, what: str) -> np.ndarray:
        """``model.loss(X)``: the scores array (a tuple back is a failure)."""
        scores = self.loss(model, X)
        if isinstance(scores, (tuple, list)):
            raise GradingFailure(f"{what}: got a {type(scores).__name__}; with y=None return the scores array only.")
        return as_array(scores, what)

    def loss_and_grads(self, model, X, y, names) -> tuple[float, dict]:
        """``model.loss(X, y)`` as ``(float, dict of arrays)``, its structure checked against ``names``."""
        result = self.loss(model, X, y)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise GradingFailure(f"{self.owner}.loss(X, y) should return a tuple (loss, grads), got "
                                 f"{type(result).__name__}.")
        loss, grads = result
        if not isinstance(grads, dict):
            raise GradingFailure(f"{self.owner}.loss(X, y): grads should be a dict, got {type(grads).__name__}.")
        missing, extra = sorted(set(names) - set(grads)), sorted(set(grads) - set(names))
        if missing or extra:
            raise GradingFailure(f"{self.owner}.loss(X, y): grads must have exactly the keys of self.params; "
                                 f"missing {missing}, unexpected {extra}.")
        return scalar(loss, f"{self.owner}.loss(X, y) loss"), grads


# -- checks of __init__ ----------------------------------------------------------------------------

def check_param_names(params: dict, expected: dict, what: str, hint: str) -> None:
    """Fail unless ``params`` has exactly the names of ``expected`` (``{name: shape}``)."""
    missing, extra = sorted(set(expected) - set(params)), sorted(set(params) - set(expected))
    if missing or extra:
        raise GradingFailure(f"{what}: missing {missing}, unexpected {extra}. Hint: {hint}")


def check_dtype(params: dict, dtype, what: str) -> None:
    """Fail unless every parameter is exactly representable in ``dtype`` (the template's cast ran)."""
    for name, value in params.items():
        array = as_array(value, f"{what}['{name}']")
        if not np.array_equal(array, array.astype(dtype)):
            raise GradingFailure(f"{what}['{name}']: not {np.dtype(dtype).name} with dtype=np.{np.dtype(dtype).name}. "
                                 "Hint: keep the provided loop that casts every parameter to dtype, after your code.")


def check_gaussian_weights(params: dict, weights, weight_scale: float, owner: str) -> None:
    """Fail unless each weight matrix looks like ``weight_scale * np.random.randn(...)`` (mean 0, std scale)."""
    for name in weights:
        what = f"{owner}.params['{name}'] with weight_scale={weight_scale}"
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


def check_initial_values(params: dict, starts: dict, shapes: dict, what: str) -> None:
    """Fail unless each ``starts`` parameter is that constant (biases and betas 0, gammas 1)."""
    for name, start in starts.items():
        label = f"{what}['{name}'] after __init__"
        if name not in params:
            raise GradingFailure(f"{label}: missing.")
        check_close(params[name], np.full(shapes[name], start), label, rtol=0, atol=0,
                    hint="biases and betas start at zeros (np.zeros), gammas at ones (np.ones).")


# -- checks of the loss ----------------------------------------------------------------------------

def regularization_hint(loss: float, data_loss: float, reg: float, params: dict, weights) -> str:
    """Name the regularization mistake whose loss equals the student's, if one does."""
    squares = {name: float(np.sum(value ** 2)) for name, value in params.items()}
    total = sum(squares[name] for name in weights)
    others = sum(value for name, value in squares.items() if name not in weights)
    biases = sum(value for name, value in squares.items() if name.startswith("b"))
    listed = ", ".join(weights)
    candidates = [
        (data_loss, f"the loss has no regularization term: add 0.5 * reg * the sum of W**2 over {listed}."),
        (data_loss + reg * total, "the factor 0.5 is missing: the term is 0.5 * reg * sum(W**2)."),
        (data_loss + 0.5 * reg * (total + biases), f"the biases are regularized too: only {listed} are."),
        (data_loss + 0.5 * reg * (total + others), f"biases, gammas or betas are regularized too: only {listed} are."),
    ]
    for drop in weights:
        candidates.append((data_loss + 0.5 * reg * (total - squares[drop]),
                           f"{drop} is missing from the regularization: it covers {listed}."))
    for value, hint in candidates:
        if abs(loss - value) <= 1e-6 * abs(value):
            return "your loss equals the right data loss where " + hint
    return f"add 0.5 * reg * sum(W**2) over {listed} (not the biases, gammas or betas) to the data loss."


def gradient_hint(name: str, grad: np.ndarray, expected: np.ndarray, reg: float, params: dict, weights) -> str | None:
    """Name the gradient mistake whose result equals the student's, if one does."""
    if grad.shape != expected.shape:
        return None
    if reg:
        mistakes = [(-reg * params[name], f"the regularization gradient reg * {name} is missing from grads['{name}']."),
                    (reg * params[name], f"the gradient of 0.5 * reg * sum({name}**2) is reg * {name}, added once."
                     if name in weights else f"{name} is regularized: only {', '.join(weights)} are.")]
        for offset, hint in mistakes:
            if np.allclose(grad, expected + offset, rtol=1e-6, atol=1e-10):
                return "your gradient equals the right one where " + hint
    if np.all(grad == 0) and not np.allclose(expected, 0.0):
        return f"grads['{name}'] is all zeros: store the gradient the backward pass returns for {name}."
    return None


def check_gradients(grads: dict, expected: dict, params: dict, *, reg: float, weights, flat: tuple = (),
                    what: str, source: str) -> None:
    """Each ``grads[name]`` against ``expected[name]`` (relative error), ``flat`` ones against 0.

    ``flat``: parameters the loss does not depend on (a bias feeding a batch normalization).
    """
    for name in params:
        label = f"{what} grads['{name}'] vs. {source}"
        grad = as_array(grads[name], label)
        hint = gradient_hint(name, grad, np.asarray(expected[name], dtype=np.float64), reg, params, weights)
        if name in flat:
            check_close(grad, np.zeros(params[name].shape), label, rtol=0, atol=1e-8,
                        hint=hint or f"{name} feeds a batch normalization, which removes any constant shift: its "
                                     "gradient is 0. Are the layers in the order affine - batchnorm - relu?")
        else:
            check_rel_error(grad, expected[name], label, tol=GRAD_TOL,
                            hint=hint or f"grads['{name}'] is the gradient the matching backward layer returns "
                                         f"for {name} (plus reg * W for {', '.join(weights)}); check that the "
                                         "backward passes run in reverse order on the right caches.")


def conditioned_case(rng, draw, reference, weights, flat: tuple = (), per_weight: int = 2, tries: int = 20):
    """Parameters, a batch and probe positions where the reference's numerical gradient is exact to 1e-8.

    Parameters
    ----------
    draw : callable
        ``draw(rng) -> (params, X, y)``.
    reference : callable
        ``reference(params)`` -> a reference model holding ``params``.
    weights, flat
        The weight matrices (``per_weight`` positions each, among their largest-gradient entries)
        and the parameters with zero gradient (one position anywhere); every other parameter gets one.

    Returns
    -------
    tuple
        ``(params, X, y, positions)``, positions as ``{name: [index, ...]}``.

    Raises
    ------
    RuntimeError
        No well-conditioned draw in ``tries`` (a grader problem, not the student's).
    """
    for _ in range(tries):
        params, X, y = draw(rng)
        model = reference(params)
        _, grads = model.loss(X, y)
        positions = {}
        for name, grad in grads.items():
            count = per_weight if name in weights else 1
            if name in flat:
                chosen = rng.choice(grad.size, size=count, replace=False)
            else:
                largest = np.argsort(-np.abs(grad), axis=None)[:max(count, grad.size // 4)]
                chosen = rng.choice(largest, size=count, replace=False)
            positions[name] = [np.unravel_index(i, grad.shape) for i in chosen]

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
            if name in flat:
                exact &= bool(np.max(np.abs(num[picked])) < 1e-8)
            else:
                exact &= rel_error(num[picked], grads[name][picked]) < 1e-8
        if exact:
            return params, X, y, positions
    raise RuntimeError(f"no well-conditioned input for the numerical gradient in {tries} draws")


def check_numerical_gradients(network: Network, model, params: dict, X, y, positions: dict, *, weights,
                              flat: tuple = (), what: str) -> None:
    """Each parameter's gradient vs. a sparse numerical gradient of the student's own loss, at ``positions``."""
    _, grads = network.loss_and_grads(model, X, y, params)

    def student_losses(batch, name):
        losses = []
        for (probe,) in batch:
            network.set_params(model, {**params, name: probe})
            losses.append(network.loss_and_grads(model, X, y, params)[0])
        return losses

    for name, where in positions.items():
        label = f"{what} grads['{name}'] vs. the numerical gradient of your loss at {len(where)} position(s)"
        grad = as_array(grads[name], label)
        if grad.shape != params[name].shape:
            raise GradingFailure(f"{label}: shape {grad.shape}, expected {params[name].shape}.")
        num = numerical_gradient(lambda batch: student_losses(batch, name), [params[name]], 0, np.ones(()),
                                 positions=where)
        picked = tuple(np.array(where).T)
        if name in flat:
            check_close(grad[picked], num[picked], label, rtol=0, atol=1e-7,
                        hint=f"{name} feeds a batch normalization: the loss does not change with it, so its "
                             "gradient is 0.")
        else:
            check_rel_error(grad[picked], num[picked], label, tol=GRAD_TOL,
                            hint=f"grads['{name}'] must be the derivative of the loss you return, regularization "
                                 f"included (reg * W for {', '.join(weights)}; nothing for the others).")
