"""
The notebooks' own checks of each graded function, as the score cells run them.

Every graded function has a locked score cell at the end of a notebook. It calls

    run_public_checks('conv_forward_naive', 'nnl.conv_layers')

which runs the checks of that function defined in public_checks/conv_layers.py
(one file of checks per module of nnl/). They repeat what the notebook's cells
show: the function is implemented, it returns the documented shapes, it agrees
with the notebook's hand-computed examples and, for backward passes, with the
numerical gradient of your forward pass on the notebook's example sizes.

These checks are NOT your grade. After you submit, hidden tests grade each
function on other inputs; your score appears under the score cell in your
feedback. Passing these checks only means that your code agrees with the
notebook's examples.

What a score cell does depends on who runs it (nbgrader sets the environment
variable NBGRADER_EXECUTION while it runs a notebook):
- you, running the cell: it prints whether the function passes, and never stops
  "Run All" in a half-done notebook;
- nbgrader validate (the Validate button): a failing check fails the cell, with
  one line naming the function and what is wrong;
- nbgrader autograde: the course's kit never runs score cells (it writes the
  hidden tests' score into them). If one runs anyway, it fails, so that no
  score is ever given without the hidden tests.
"""
import contextlib
import importlib
import inspect
import io
import os
import textwrap
import traceback
import warnings

import numpy as np

from utils.gradient_check import rel_error

CHECKS_PACKAGE = 'public_checks'
STUB = 'raise NotImplementedError'
AUTOGRADE_MESSAGE = "this course's autograde needs the course kit's nbgrader_config.py (see its README)"
PASSED = "{function} passes the notebook's checks. Your grade comes from hidden tests after you submit."
NOT_YET = "Not passing the notebook's checks yet: {problem}"
MESSAGE_WIDTH = 80  # nbgrader validate cuts longer lines of an error (at 87 characters, indent included)


class CheckFailed(Exception):
    """
    What a public check found wrong, in one line; the score cell adds the function's name.
    """


class PublicCheckFailed(AssertionError):
    """
    A graded function fails its public checks (raised under nbgrader validate).

    The message is one line. Jupyter shows it as the whole error (no traceback
    of the checks), wrapped to lines that nbgrader validate prints in full.
    """

    def _render_traceback_(self):
        return textwrap.wrap(str(self), MESSAGE_WIDTH, subsequent_indent='    ',
                             break_long_words=False, break_on_hyphens=False)


class NoPublicCheck(LookupError):
    """
    The assignment defines no public check for a function: a mistake of the course, not yours.
    """


def public_check(function, forward=None):
    """
    Registers a check of one graded function (a decorator).

    Inputs:
    - function: Name of the graded function or class, e.g. 'conv_forward_naive'
    - forward: For a backward pass whose check differentiates your forward pass,
      the name of that forward function. When both fail, the message says to fix
      the forward pass first.

    The decorated check takes the student's module (e.g. nnl.conv_layers) and
    raises CheckFailed (through the expect_* helpers below) when something is wrong.
    """
    def register(check):
        check.public_check_of = function
        check.forward = forward
        return check
    return register


def run_public_checks(function, module):
    """
    Runs the notebook's checks of one graded function: what a score cell does.

    Inputs:
    - function: Name of the graded function or class, e.g. 'conv_forward_naive'
    - module: Its module, e.g. 'nnl.conv_layers'

    Returns nothing (a score cell must not end in a value: nbgrader would read it
    as a score). Raises PublicCheckFailed under nbgrader validate when a check
    fails, and AssertionError whenever nbgrader autogrades.
    """
    execution = os.environ.get('NBGRADER_EXECUTION', '')
    if execution == 'autograde':
        raise AssertionError(AUTOGRADE_MESSAGE)
    problem = find_problem(function, module)
    if problem is not None and execution:
        raise PublicCheckFailed(problem)
    print(PASSED.format(function=function) if problem is None else NOT_YET.format(problem=problem))


def find_problem(function, module):
    """
    Runs the public checks of one function.

    Inputs:
    - function: Name of the graded function or class
    - module: Its module, e.g. 'nnl.conv_layers'

    Returns:
    - None when the function passes, else one line saying what is wrong; it starts
      with the function's name.

    Raises NoPublicCheck when the assignment has no check for the function.
    """
    checks = checks_of(module)
    if function not in checks:
        raise NoPublicCheck('%s has no public check: no @public_check(%r) in %s'
                            % (function, function, _checks_file(module)))
    try:
        student_module = importlib.import_module(module)
    except Exception as err:
        return '%s: %s cannot be imported (%s)' % (function, _source_file(module), _one_line(err))
    if not hasattr(student_module, function):
        return '%s is missing from %s' % (function, _source_file(module))
    problem, kind = _run_check(checks[function], function, module, student_module)
    forward = checks[function].forward
    if kind == 'wrong' and forward in checks and _run_check(checks[forward], forward, module, student_module)[0]:
        problem += '; the numerical gradient is that of your %s, which fails its own check: fix it first' % forward
    return problem


def checks_of(module):
    """
    Returns the public checks of one module of the assignment's package.

    Inputs:
    - module: e.g. 'nnl.conv_layers', whose checks are in public_checks/conv_layers.py

    Returns:
    - A dictionary from function name to its check
    """
    name = '%s.%s' % (CHECKS_PACKAGE, module.split('.', 1)[-1])
    try:
        checks_module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name not in (CHECKS_PACKAGE, name):
            raise
        raise NoPublicCheck('no public checks for %s: %s is missing' % (module, _checks_file(module))) from None
    return {check.public_check_of: check for check in vars(checks_module).values()
            if callable(check) and hasattr(check, 'public_check_of')}


def _run_check(check, function, module, student_module):
    """
    Runs one check with the notebook's random state, printed output and warnings left untouched.

    Returns a tuple of:
    - problem: None, or the one-line message
    - kind: None, 'wrong' (a value, shape or type the check expects differently),
      'stub' (the function is not implemented yet) or 'raised' (any other error)
    """
    random_state = np.random.get_state()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter('ignore')
            check(student_module)
    except CheckFailed as err:
        return '%s: %s' % (function, _one_line(err)), 'wrong'
    except NotImplementedError as err:
        return _not_implemented(function, module, student_module, err)
    except (Exception, SystemExit) as err:
        return _raised(function, student_module, err), 'raised'
    finally:
        np.random.set_state(random_state)
    return None, None


def _not_implemented(function, module, student_module, err):
    """The message for a NotImplementedError: the function's own stub, or one it calls."""
    frame = _innermost_student_frame(err, student_module)
    graded = getattr(student_module, function)
    own = frame is not None and _belongs_to(frame[0].f_code.co_qualname, function)
    if own or STUB in _source_of(graded):
        where = ''
        if own and frame[0].f_code.co_qualname != function:
            where = ' in %s' % frame[0].f_code.co_qualname
        return ('%s is not implemented yet (%s still raises NotImplementedError%s)'
                % (function, _source_file(module), where)), 'stub'
    if frame is None:
        return "%s: the notebook's check failed with %s" % (function, _one_line(err)), 'raised'
    return ('%s: stopped at %s (%s), which is not implemented yet'
            % (function, frame[0].f_code.co_qualname, frame[1])), 'raised'


def _raised(function, student_module, err):
    """The message for any other exception, with the place in your code it came from."""
    frame = _innermost_student_frame(err, student_module)
    if frame is None:
        return "%s: the notebook's check failed with %s" % (function, _one_line(err))
    where, filename, line = frame
    inside = '' if _belongs_to(where.f_code.co_qualname, function) else 'in %s, ' % where.f_code.co_qualname
    return '%s raised %s (%s%s line %d)' % (function, _one_line(err), inside, filename, line)


def _innermost_student_frame(err, student_module):
    """(frame, file relative to the assignment folder, line) of the last traceback entry in the package."""
    package = importlib.import_module(student_module.__name__.split('.')[0])
    folder = os.path.dirname(os.path.abspath(package.__file__))
    found = None
    for frame, line in traceback.walk_tb(err.__traceback__):
        filename = os.path.abspath(frame.f_code.co_filename)
        if filename.startswith(folder + os.sep):
            found = (frame, os.path.relpath(filename, os.path.dirname(folder)), line)
    return found


def _belongs_to(qualname, function):
    return qualname == function or qualname.startswith(function + '.')


def _source_of(obj):
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return ''


def _source_file(module):
    return module.replace('.', '/') + '.py'


def _checks_file(module):
    return '%s/%s.py' % (CHECKS_PACKAGE, module.split('.', 1)[-1].replace('.', '/'))


def _one_line(err):
    """'TypeError: message' (or the message of a CheckFailed), on one line of at most 300 characters."""
    text = ' '.join(str(err).split())
    if not isinstance(err, CheckFailed):
        text = '%s: %s' % (type(err).__name__, text) if text else type(err).__name__
    return text if len(text) <= 300 else text[:297] + '...'


# --- what the checks use --------------------------------------------------------------------------

def returned(result, names, example):
    """
    Checks that a function returned a tuple of the documented length.

    Inputs:
    - result: What the function returned
    - names: The documented parts, e.g. ('out', 'cache')
    - example: Which example of the notebook it was, e.g. "the notebook's by-hand example"

    Returns:
    - result, to unpack
    """
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        raise CheckFailed('returned %s on %s, expected a tuple (%s)'
                          % (_describe(result), example, ', '.join(names)))
    return result


def expect_array(name, value, shape, example):
    """
    Checks that a value is a finite numeric array of the documented shape.

    Inputs:
    - name: What the value is, e.g. 'out' or 'dx'
    - value: The value your code returned
    - shape: The documented shape, e.g. (2, 3, 4, 4)
    - example: Which example of the notebook it was

    Returns:
    - value as a float64 array
    """
    if value is None:
        raise CheckFailed('%s is None on %s (expected an array of shape %s)' % (name, example, tuple(shape)))
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed('%s is %s on %s, expected an array of shape %s'
                          % (name, _describe(value), example, tuple(shape))) from None
    if array.shape != tuple(shape):
        raise CheckFailed('%s shape %s, expected %s on %s' % (name, array.shape, tuple(shape), example))
    not_finite = np.size(array) - np.count_nonzero(np.isfinite(array))
    if not_finite:
        raise CheckFailed('%s has %d non-finite values (nan or inf) on %s' % (name, not_finite, example))
    return array


def expect_close(name, value, expected, example, tolerance):
    """
    Checks a value against the notebook's expected one: shape first, then relative error.

    Inputs:
    - name: What the value is, e.g. 'out'
    - value: The value your code returned
    - expected: The value the notebook expects (hand-computed, hard-coded or independently computed)
    - example: Which example of the notebook it was
    - tolerance: The largest relative error allowed (rel_error of utils/gradient_check.py)
    """
    expected = np.asarray(expected, dtype=np.float64)
    array = expect_array(name, value, expected.shape, example)
    error = rel_error(array, expected)
    if not error <= tolerance:
        raise CheckFailed('%s relative error %.1e on %s (at most %g)%s'
                          % (name, error, example, tolerance, _where_wrong(array, expected, tolerance)))


def expect_gradient(name, value, numerical, example, tolerance):
    """
    Checks an analytic gradient against the numerical one, as the notebook's gradient checks do.

    Inputs:
    - name: Which gradient, e.g. 'dx'
    - value: The gradient your backward pass returned
    - numerical: The numerical gradient (utils/gradient_check.py)
    - example: Which example of the notebook it was
    - tolerance: The largest relative error allowed
    """
    array = expect_array(name, value, np.shape(numerical), example)
    error = rel_error(array, numerical)
    if not error <= tolerance:
        raise CheckFailed('%s relative error %.1e against the numerical gradient on %s (at most %g)%s'
                          % (name, error, example, tolerance, _where_wrong(array, numerical, tolerance)))


def expect_near(name, values, target, within, example):
    """
    Checks statistics (means, stds, a loss) that the notebook says should be close to a target.

    Inputs:
    - name: What the values are, e.g. 'per-channel means of out'
    - values: A number or an array of them
    - target: What they should be close to (a number, or an array of the same shape)
    - within: The largest distance allowed (a number, or one per value)
    - example: Which example of the notebook it was
    """
    values = np.asarray(values, dtype=np.float64)
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), values.shape)
    if not np.all(np.abs(values - target) <= within):
        raise CheckFailed('%s %s on %s, expected %s (within %s)'
                          % (name, _numbers(values), example, _numbers(target), _numbers(within)))


def expect_parameters(model, expected_shapes, example):
    """
    Checks that model.params holds exactly the documented parameters, with their shapes.

    Inputs:
    - model: Your network (a class with params and loss(X, y))
    - expected_shapes: Dictionary from parameter name to its documented shape
    - example: Which network it is
    """
    params = getattr(model, 'params', None)
    if not isinstance(params, dict) or set(params) != set(expected_shapes):
        names = sorted(params) if isinstance(params, dict) else params
        raise CheckFailed('model.params has the keys %s on %s, expected %s'
                          % (names, example, sorted(expected_shapes)))
    for name, shape in sorted(expected_shapes.items()):
        expect_array("model.params['%s']" % name, params[name], shape, example)


def loss_and_grads(model, X, y, example):
    """
    Calls model.loss(X, y) and checks that it returned (loss, grads) with one finite
    gradient of the right shape for each parameter.

    Returns a tuple of:
    - loss: The loss, a float
    - grads: Dictionary from parameter name to its gradient
    """
    result = model.loss(X, y)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed('model.loss(X, y) did not return a tuple (loss, grads) on %s' % example)
    loss, grads = result
    loss = float(expect_array('loss', loss, (), example))
    if not isinstance(grads, dict) or set(grads) != set(model.params):
        names = sorted(grads) if isinstance(grads, dict) else grads
        raise CheckFailed('grads has the keys %s on %s, expected those of model.params, %s'
                          % (names, example, sorted(model.params)))
    for name in sorted(grads):
        expect_array("grads['%s']" % name, grads[name], np.shape(model.params[name]), example)
    return loss, grads


def _where_wrong(array, expected, tolerance):
    """'; 3 of 12 values differ, the first at (0, 1)', or '' for a single value."""
    if array.size <= 1:
        return ''
    errors = np.abs(array - expected) / np.maximum(1e-8, np.abs(array) + np.abs(expected))
    wrong = np.argwhere(~(errors <= tolerance))
    return '; %d of %d values differ, the first at %s' % (len(wrong), array.size, tuple(int(i) for i in wrong[0]))


def _numbers(values):
    """A short display of one number or a few: '2.31' or '[0.012, -0.5, 1]'."""
    values = np.asarray(values)
    if values.ndim == 0:
        return '%.4g' % values
    if values.size and np.all(values == values.flat[0]) and values.size > 1:
        return '%.4g' % values.flat[0]
    shown = ', '.join('%.4g' % v for v in values.flat[:6])
    return '[%s%s]' % (shown, ', ...' if values.size > 6 else '')


def _describe(value):
    """'None', 'a float', 'a tuple of 3 items', 'an array of shape (2, 3)'."""
    if value is None:
        return 'None'
    if isinstance(value, np.ndarray):
        return 'an array of shape %s' % (value.shape,)
    if isinstance(value, (tuple, list)):
        return 'a %s of %d items' % (type(value).__name__, len(value))
    name = type(value).__name__
    return '%s %s' % ('an' if name[0] in 'aeiou' else 'a', name)
