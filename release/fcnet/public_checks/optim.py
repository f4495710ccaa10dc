"""
The checks of nnl/optim.py: those the FullyConnectedNets notebook of the fully
connected nets homework shows (one update from np.linspace values, against its
hard-coded expected values), and a by-hand example for plain SGD.

The score cells run them (see utils/public_checks.py); they are not your grade.
"""
import numpy as np

from utils.public_checks import CheckFailed, expect_close, expect_near, public_check, returned

TOLERANCE = 1e-6  # the expected values are printed with 8 digits; the notebook: errors around 1e-7 or less


def linspace_example():
    """
    The weights and gradients of the FullyConnectedNets notebook's optimizer checks.

    Returns a tuple of:
    - w: Weights, of shape (4, 5)
    - dw: Their gradients, of shape (4, 5)
    """
    N, D = 4, 5
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    return w, dw


def update_once(update_rule, w, dw, config, example):
    """
    Calls an update rule once and checks that it returned (next_w, config) without changing w.

    Inputs:
    - update_rule: Your sgd, sgd_momentum, rmsprop or adam
    - w, dw, config: Its inputs
    - example: Which example it is

    Returns a tuple of:
    - next_w: The next weights
    - config: The config it returned
    """
    w_before = w.copy()
    next_w, config = returned(update_rule(w, dw, config=config), ('next_w', 'config'), example)
    if not np.array_equal(w, w_before):
        raise CheckFailed('changed w in place on %s: an update rule must return a new array next_w' % example)
    if not isinstance(config, dict):
        raise CheckFailed('returned a config that is not a dictionary on %s' % example)
    return next_w, config


@public_check('sgd')
def check_sgd(optim):
    """
    A by-hand example of vanilla SGD: next_w = w - learning_rate * dw.
    """
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    dw = np.array([[10.0, -10.0], [0.0, 20.0]])
    by_hand = np.array([[1.0 - 0.1 * 10.0, 2.0 + 0.1 * 10.0],
                        [3.0 - 0.1 * 0.0, 4.0 - 0.1 * 20.0]])
    example = "the by-hand example (learning rate 0.1)"
    next_w, _ = update_once(optim.sgd, w, dw, {'learning_rate': 0.1}, example)
    expect_close('next_w', next_w, by_hand, example, tolerance=1e-12)


@public_check('sgd_momentum')
def check_sgd_momentum(optim):
    """
    The sgd_momentum check of FullyConnectedNets.ipynb: one update, with the default
    momentum 0.9, against the hard-coded expected_next_w and expected_velocity.
    """
    w, dw = linspace_example()
    v = np.linspace(0.6, 0.9, num=w.size).reshape(w.shape)
    expected_next_w = np.asarray([
        [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
        [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
        [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
        [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]])
    expected_velocity = np.asarray([
        [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
        [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
        [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
        [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096]])
    example = "the FullyConnectedNets notebook's linspace example"
    next_w, config = update_once(optim.sgd_momentum, w, dw, {'learning_rate': 1e-3, 'velocity': v}, example)
    expect_close('next_w', next_w, expected_next_w, example, TOLERANCE)
    expect_close("config['velocity']", config.get('velocity'), expected_velocity, example, TOLERANCE)


@public_check('rmsprop')
def check_rmsprop(optim):
    """
    The rmsprop check of FullyConnectedNets.ipynb: one update, with the default decay rate
    0.99, against the hard-coded expected_next_w and expected_cache.
    """
    w, dw = linspace_example()
    cache = np.linspace(0.6, 0.9, num=w.size).reshape(w.shape)
    expected_next_w = np.asarray([
        [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
        [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
        [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
        [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619]])
    expected_cache = np.asarray([
        [0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
        [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
        [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
        [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926]])
    example = "the FullyConnectedNets notebook's linspace example"
    next_w, config = update_once(optim.rmsprop, w, dw, {'learning_rate': 1e-2, 'cache': cache}, example)
    expect_close('next_w', next_w, expected_next_w, example, TOLERANCE)
    expect_close("config['cache']", config.get('cache'), expected_cache, example, TOLERANCE)


@public_check('adam')
def check_adam(optim):
    """
    The adam check of FullyConnectedNets.ipynb: one update from t = 5 (so t = 6 in the bias
    correction), against the hard-coded expected_next_w, expected_m and expected_v.
    """
    w, dw = linspace_example()
    m = np.linspace(0.6, 0.9, num=w.size).reshape(w.shape)
    v = np.linspace(0.7, 0.5, num=w.size).reshape(w.shape)
    expected_next_w = np.asarray([
        [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
        [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
        [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
        [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459]])
    expected_v = np.asarray([
        [0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
        [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
        [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
        [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966]])
    expected_m = np.asarray([
        [0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
        [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
        [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
        [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85]])
    example = "the FullyConnectedNets notebook's linspace example (t = 5)"
    next_w, config = update_once(optim.adam, w, dw, {'learning_rate': 1e-2, 'm': m, 'v': v, 't': 5}, example)
    expect_close('next_w', next_w, expected_next_w, example, TOLERANCE)
    expect_close("config['m']", config.get('m'), expected_m, example, TOLERANCE)
    expect_close("config['v']", config.get('v'), expected_v, example, TOLERANCE)
    expect_near("config['t']", config.get('t', np.nan), 6, 0, example)
