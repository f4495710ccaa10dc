"""The hidden suite of ThreeLayerConvNet (autograder/suites/cnn/test_cnn.py), graded end to end.

Every submission here is graded by the real command on test_cnn.py alone,
with a rubric that covers just ThreeLayerConvNet, so this file does not depend
on the other suites. The submissions are graded once per module, two at a time.
"""
from concurrent.futures import ThreadPoolExecutor

import pytest

from submissions import RELEASE, SOLVED, copy_of, grade_json, solved_with

OWNER = "ThreeLayerConvNet"
RUBRIC = f'total = 20\n[functions]\n{OWNER} = {{ module = "nnl.cnn", points = 20 }}\n'

# A correct network written differently: the naive layers called one by one (no sandwich layers), a list of
# caches, `pad` as a float (the seed's template), np.random.normal, the regularization as squared norms in a
# loop, extra attributes set in __init__.
ALTERNATIVE_NET = '''
class ThreeLayerConvNet(object):
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax, layer by layer."""

    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7,
                 hidden_dim=100, num_classes=10, weight_scale=1e-3, reg=0.0,
                 dtype=np.float32, use_batchnorm=False):
        self.use_batchnorm = use_batchnorm
        self.reg = reg
        self.dtype = dtype
        self.filter_size = filter_size
        C, H, W = input_dim
        sizes = {'W1': (num_filters, C, filter_size, filter_size),
                 'W2': (num_filters * H * W // 4, hidden_dim),
                 'W3': (hidden_dim, num_classes)}
        widths = {'b1': num_filters, 'b2': hidden_dim, 'b3': num_classes}
        self.params = {}
        for i in (1, 2, 3):
            self.params['W%d' % i] = np.random.normal(0.0, weight_scale, size=sizes['W%d' % i])
            self.params['b%d' % i] = np.zeros(widths['b%d' % i])
        if use_batchnorm:
            for i, width in ((1, num_filters), (2, hidden_dim)):
                self.params['gamma%d' % i] = np.ones(width)
                self.params['beta%d' % i] = np.zeros(width)
        self.bn_params = [{'mode': 'train'}, {'mode': 'train'}] if use_batchnorm else []
        self.params = {k: v.astype(dtype) for k, v in self.params.items()}

    def loss(self, X, y=None):
        p = self.params
        conv_param = {'stride': 1, 'pad': (self.filter_size - 1) / 2}
        pool_param = {'pool_height': 2, 'pool_width': 2, 'stride': 2}
        mode = 'test' if y is None else 'train'
        for bn_param in self.bn_params:
            bn_param['mode'] = mode
        caches = []
        h, c = conv_forward_naive(X, p['W1'], p['b1'], conv_param)
        caches.append(c)
        if self.use_batchnorm:
            h, c = spatial_batchnorm_forward(h, p['gamma1'], p['beta1'], self.bn_params[0])
            caches.append(c)
        h, c = relu_forward(h)
        caches.append(c)
        h, c = max_pool_forward_naive(h, pool_param)
        caches.append(c)
        pooled_shape = h.shape
        h, c = affine_forward(h.reshape(X.shape[0], -1), p['W2'], p['b2'])
        caches.append(c)
        if self.use_batchnorm:
            h, c = batchnorm_forward(h, p['gamma2'], p['beta2'], self.bn_params[1])
            caches.append(c)
        h, c = relu_forward(h)
        caches.append(c)
        scores, c = affine_forward(h, p['W3'], p['b3'])
        caches.append(c)
        if y is None:
            return scores

        loss, d = softmax_loss(scores, y)
        for key in ('W1', 'W2', 'W3'):
            loss = loss + 0.5 * self.reg * np.linalg.norm(p[key]) ** 2
        grads = {}
        d, grads['W3'], grads['b3'] = affine_backward(d, caches.pop())
        d = relu_backward(d, caches.pop())
        if self.use_batchnorm:
            d, grads['gamma2'], grads['beta2'] = batchnorm_backward(d, caches.pop())
        d, grads['W2'], grads['b2'] = affine_backward(d, caches.pop())
        d = max_pool_backward_naive(d.reshape(pooled_shape), caches.pop())
        d = relu_backward(d, caches.pop())
        if self.use_batchnorm:
            d, grads['gamma1'], grads['beta1'] = spatial_batchnorm_backward(d, caches.pop())
        d, grads['W1'], grads['b1'] = conv_backward_naive(d, caches.pop())
        for key in ('W1', 'W2', 'W3'):
            grads[key] = grads[key] + self.reg * p[key]
        return loss, grads
'''

# One realistic bug in every graded layer the network may call: none may cost ThreeLayerConvNet a point.
BUGGY_LAYERS = {
    "nnl/layers.py": {
        "affine_forward": '''
            def affine_forward(x, w, b):
                out = x.reshape(x.shape[0], -1).dot(w)  # forgot the bias
                return out, (x, w, b)
        ''',
        "affine_backward": '''
            def affine_backward(dout, cache):
                x, w, b = cache
                dx = dout.dot(w.T).reshape(x.shape)
                dw = x.reshape(x.shape[0], -1).T.dot(dout) / x.shape[0]  # a stray 1/N
                db = np.sum(dout, axis=0)
                return dx, dw, db
        ''',
        "relu_forward": '''
            def relu_forward(x):
                return np.maximum(0.01 * x, x), x  # leaky
        ''',
        "relu_backward": '''
            def relu_backward(dout, cache):
                return dout.copy()  # forgot the mask
        ''',
        "softmax_loss": '''
            def softmax_loss(x, y):
                N = x.shape[0]
                probs = np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)
                loss = -np.sum(np.log(probs[np.arange(N), y]))  # forgot / N
                dx = probs.copy()
                dx[np.arange(N), y] -= 1
                return loss, dx
        ''',
        "batchnorm_forward": '''
            def batchnorm_forward(x, gamma, beta, bn_param):
                mu = x.mean(axis=0)
                var = x.var(axis=0, ddof=1)  # corrected variance, no running averages
                xhat = (x - mu) / np.sqrt(var + bn_param.get('eps', 1e-5))
                return gamma * xhat + beta, (xhat, gamma, var)
        ''',
        "batchnorm_backward": '''
            def batchnorm_backward(dout, cache):
                xhat, gamma, var = cache
                dx = dout * gamma / np.sqrt(var + 1e-5)  # forgot the mean and variance paths
                return dx, np.sum(dout * xhat, axis=0), np.sum(dout, axis=0)
        ''',
    },
    "nnl/conv_layers.py": {
        "conv_forward_naive": '''
            def conv_forward_naive(x, w, b, conv_param):
                pad = int(conv_param['pad'])
                x_padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
                N, C, H, W = x.shape
                F, _, HH, WW = w.shape
                out = np.zeros((N, F, H + 2 * pad - HH + 1, W + 2 * pad - WW + 1))  # ignores the stride
                for i in range(out.shape[2]):
                    for j in range(out.shape[3]):
                        window = x_padded[:, :, i:i + HH, j:j + WW]
                        out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))  # no bias
                return out, (x, w, b, conv_param)
        ''',
        "conv_backward_naive": '''
            def conv_backward_naive(dout, cache):
                x, w, b, conv_param = cache
                return np.zeros_like(x), np.zeros_like(w), np.sum(dout, axis=(0, 2, 3))
        ''',
        "max_pool_forward_naive": '''
            def max_pool_forward_naive(x, pool_param):
                N, C, H, W = x.shape
                return x.reshape(N, C, H // 2, 2, W // 2, 2).mean(axis=(3, 5)), (x, pool_param)  # average
        ''',
        "max_pool_backward_naive": '''
            def max_pool_backward_naive(dout, cache):
                x, pool_param = cache
                return np.repeat(np.repeat(dout, 2, axis=2), 2, axis=3) / 4
        ''',
        "spatial_batchnorm_forward": '''
            def spatial_batchnorm_forward(x, gamma, beta, bn_param):
                N, C, H, W = x.shape
                out, cache = batchnorm_forward(x.reshape(-1, C), gamma, beta, bn_param)  # no transpose
                return out.reshape(N, C, H, W), cache
        ''',
        "spatial_batchnorm_backward": '''
            def spatial_batchnorm_backward(dout, cache):
                N, C, H, W = dout.shape
                dx, dgamma, dbeta = batchnorm_backward(dout.reshape(-1, C), cache)  # no transpose
                return dx.reshape(N, C, H, W), dgamma, dbeta
        ''',
    },
}

# Realistic bugs in the network: (edits of the solved nnl/cnn.py, the tests that must lose points, a phrase
# the feedback of one of them must contain). BUGGY_NETS puts bugs whose tests do not overlap into one
# submission each, to keep the number of gradings small.
LOSS_TESTS = {"test_scores_match_reference", "test_loss_matches_reference", "test_loss_regularization",
              "test_gradients_match_reference", "test_gradients_match_numerical"}
NET_BUGS = {
    "no_reg_in_loss": (
        [("loss = data_loss + 0.5 * self.reg * weight_norms", "loss = data_loss")],
        {"test_loss_regularization", "test_gradients_match_numerical"}, "no regularization term"),
    "no_half_in_reg": (
        [("loss = data_loss + 0.5 * self.reg * weight_norms", "loss = data_loss + self.reg * weight_norms")],
        {"test_loss_regularization", "test_gradients_match_numerical"}, "factor 0.5 is missing"),
    "reg_on_biases": (
        [("np.sum(W3 * W3)", "np.sum(W3 * W3) + np.sum(b1 * b1) + np.sum(b2 * b2) + np.sum(b3 * b3)"),
         ("grads['W3'] = dW3 + self.reg * W3", "grads['W3'] = dW3 + self.reg * W3\n"
                                               "        for k, b in (('b1', b1), ('b2', b2), ('b3', b3)):\n"
                                               "            grads[k] = grads[k] + self.reg * b")],
        {"test_loss_regularization", "test_gradients_match_reference"}, "biases are regularized"),
    "no_reg_in_grads": (
        [(f"grads['{w}'] = d{w} + self.reg * {w}", f"grads['{w}'] = d{w}") for w in ("W1", "W2", "W3")],
        {"test_gradients_match_reference", "test_gradients_match_numerical"}, "reg * W1 is missing"),
    "W2_from_H": (
        [("num_filters * (H // 2) * (W // 2)", "num_filters * H * W")],
        {"test_init_param_names_and_shapes"}, "halves H and W"),
    "init_float_division": (  # a TypeError in __init__ costs the init tests only
        [("num_filters * (H // 2) * (W // 2)", "num_filters * H / 2 * W / 2")],
        {"test_init_param_names_and_shapes", "test_init_weights_gaussian_with_weight_scale",
         "test_init_biases_zero_gammas_one"}, "TypeError"),
    "forgot_pool": (
        [("conv_relu_pool_forward(X, W1, b1, conv_param, pool_param)", "conv_relu_forward(X, W1, b1, conv_param)"),
         ("conv_relu_pool_backward(dpooled, conv_block_cache)", "conv_relu_backward(dpooled, conv_block_cache)")],
        LOSS_TESTS, "pooled (N, F, H/2, W/2) output"),
    "uniform_init": (
        [("np.random.randn(", "np.random.rand(")],
        {"test_init_weights_gaussian_with_weight_scale"}, "not a uniform draw"),
    "fresh_bn_params": (
        [("self.bn_params[0], pool_param)", "{'mode': mode}, pool_param)"),
         ("gamma2, beta2, self.bn_params[1])", "gamma2, beta2, {'mode': mode})")],
        {"test_scores_match_reference"}, "running averages"),
}


BUGGY_NETS = {
    "pool_forgotten_everywhere": ("W2_from_H", "forgot_pool"),
    "init_and_grads": ("uniform_init", "no_reg_in_grads", "fresh_bn_params"),
    "init_crash_and_loss": ("init_float_division", "no_reg_in_loss"),
    "no_half": ("no_half_in_reg",),
    "biases": ("reg_on_biases",),
}


# The seed's signature, without the optional batchnorm extension: no `use_batchnorm` keyword at all.
SEED_SIGNATURE_EDITS = [("dtype=np.float32, use_batchnorm=False):", "dtype=np.float32):"),
                        ("self.use_batchnorm = use_batchnorm", "self.use_batchnorm = False"),
                        ("2 if use_batchnorm else 0", "0")]


def edited_net(dest, edits):
    """The solved copy with text ``edits`` of nnl/cnn.py (each must apply)."""
    copy_of(SOLVED, dest)
    module = dest / "nnl" / "cnn.py"
    text = module.read_text()
    for old, new in edits:
        assert old in text, f"the solved cnn.py no longer contains {old!r}"
        text = text.replace(old, new)
    module.write_text(text)
    return dest


def net_with_bugs(dest, bugs):
    """The solved copy with the text edits of ``bugs`` in nnl/cnn.py (each edit must apply)."""
    return edited_net(dest, [edit for bug in bugs for edit in NET_BUGS[bug][0]])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Results of the ThreeLayerConvNet suite for every submission of this file, by name."""
    root = tmp_path_factory.mktemp("suite_cnn")
    rubric = root / "rubric.toml"
    rubric.write_text(RUBRIC)
    submissions = {
        "solved": SOLVED,
        "release": RELEASE,
        "alternative": solved_with(root / "alternative", {"nnl/cnn.py": {OWNER: ALTERNATIVE_NET}}),
        "buggy_layers": solved_with(root / "buggy_layers", BUGGY_LAYERS),
        "alternative_buggy_layers": solved_with(root / "alternative_buggy_layers",
                                                {**BUGGY_LAYERS, "nnl/cnn.py": {OWNER: ALTERNATIVE_NET}}),
    }
    submissions["seed_signature"] = edited_net(root / "seed_signature", SEED_SIGNATURE_EDITS)
    for name, bugs in BUGGY_NETS.items():
        submissions[name] = net_with_bugs(root / name, bugs)

    def grade(name):
        return name, grade_json(submissions[name], root / f"{name}.json", "--only", "test_cnn.py",
                                "--rubric", str(rubric))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(grade, submissions))


def lost(results) -> dict[str, list[dict]]:
    """Tests that did not earn full marks, by test function name (parameters dropped)."""
    out = {}
    for test in results["tests"]:
        if test["score"] < test["max_score"]:
            function = test["name"].split(": ", 1)[1].split("[")[0]
            out.setdefault(function, []).append(test)
    return out


def test_solved_copy_gets_full_marks(graded):
    results = graded["solved"]
    assert results["score"] == 20 and not lost(results), lost(results)
    assert all(test["tags"] == [OWNER] for test in results["tests"])


def test_release_gets_zero_with_feedback_naming_the_class(graded):
    results = graded["release"]
    assert results["score"] == 0
    assert all(OWNER in test["output"] and "not implemented" in test["output"] for test in results["tests"])


@pytest.mark.parametrize("name", ["alternative", "buggy_layers", "alternative_buggy_layers"])
def test_correct_network_gets_full_marks(graded, name):
    """Does a correct network earn full marks, written differently and whatever bugs its layers have?"""
    results = graded[name]
    assert results["score"] == 20, {k: [t["output"] for t in v] for k, v in lost(results).items()}


def test_every_network_bug_is_graded():
    assert sorted(bug for bugs in BUGGY_NETS.values() for bug in bugs) == sorted(NET_BUGS)


@pytest.mark.parametrize("name", list(BUGGY_NETS))
def test_network_bugs_lose_points_exactly_in_their_tests(graded, name):
    expected = set().union(*(NET_BUGS[bug][1] for bug in BUGGY_NETS[name]))
    failed = lost(graded[name])
    assert set(failed) == expected, f"{name}: lost points in {sorted(failed)}, expected {sorted(expected)}"


@pytest.mark.parametrize("name,bug", [(name, bug) for name, bugs in BUGGY_NETS.items() for bug in bugs])
def test_network_bug_feedback_names_the_class_and_the_mistake(graded, name, bug):
    phrase = NET_BUGS[bug][2]
    outputs = [test["output"] for tests in lost(graded[name]).values() for test in tests]
    assert outputs and all(OWNER in output for output in outputs)
    assert any(phrase in output for output in outputs), f"{bug}: no feedback says {phrase!r}: {outputs[:3]}"


def test_a_network_without_the_batchnorm_extension_keeps_its_plain_points(graded):
    """Does a network with the seed's signature (no use_batchnorm keyword) lose only the batchnorm tests?"""
    results = graded["seed_signature"]
    failed = [t for tests in lost(results).values() for t in tests]
    assert failed and all("batchnorm" in t["name"] for t in failed), [(t["name"], t["output"]) for t in failed]
    plain = [t for t in results["tests"] if "batchnorm" not in t["name"]]
    assert len(plain) >= 10 and all(t["status"] == "passed" for t in plain)
