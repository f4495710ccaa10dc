"""The hidden suite of nnl/conv_layers.py (autograder/suites/cnn/test_conv_layers.py), graded for real.

Each test runs the real grading command on one submission, restricted to that suite file and a
rubric of its six functions: the solved copy, the blank release, correct alternative
implementations, deliberate bugs, and broken dependencies that must cost only their own tests.
"""
import pytest

from submissions import RELEASE, SOLVED, copy_of, grade_json, scores_by_tag, solved_with

FUNCTIONS = {
    "conv_forward_naive": 10, "conv_backward_naive": 10, "max_pool_forward_naive": 6,
    "max_pool_backward_naive": 6, "spatial_batchnorm_forward": 10, "spatial_batchnorm_backward": 10,
}
RUBRIC = f"total = {sum(FUNCTIONS.values())}\n[functions]\n" + "".join(
    f'{name} = {{ module = "nnl.conv_layers", points = {points} }}\n' for name, points in FUNCTIONS.items())


def grade(submission, tmp_path):
    """The suite's results for ``submission`` (only test_conv_layers.py, with its own rubric)."""
    rubric = tmp_path / "conv_rubric.toml"
    rubric.write_text(RUBRIC)
    return grade_json(submission, tmp_path / "results.json", "--only", "test_conv_layers.py", "--rubric", str(rubric))


def lost(results) -> dict:
    """``{function: points lost}`` for the functions that lost any."""
    return {tag: round(possible - earned, 6) for tag, (earned, possible) in scores_by_tag(results).items()
            if earned < possible - 1e-9}


def failing_outputs(results, function) -> list[str]:
    return [t["output"] for t in results["tests"] if t["tags"] == [function] and t["score"] < t["max_score"]]


# -- correct alternatives: vectorized, other cache layouts, other row orders, own batchnorm math ---

VECTORIZED = {
    "conv_forward_naive": '''
        def conv_forward_naive(x, w, b, conv_param):
            from numpy.lib.stride_tricks import sliding_window_view
            stride, pad = conv_param['stride'], int(conv_param['pad'])
            N, C, H, W = x.shape
            F, _, HH, WW = w.shape
            out_h, out_w = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
            xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
            win = sliding_window_view(xp, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :out_h, :out_w]
            out = np.einsum('nchwij,fcij->nfhw', win, w) + b[None, :, None, None]
            return out, (xp, w, {'stride': stride, 'pad': pad, 'shape': x.shape})
    ''',
    "conv_backward_naive": '''
        def conv_backward_naive(dout, cache):
            from numpy.lib.stride_tricks import sliding_window_view
            xp, w, geometry = cache
            stride, pad = geometry['stride'], geometry['pad']
            N, C, H, W = geometry['shape']
            F, _, HH, WW = w.shape
            _, _, out_h, out_w = dout.shape
            win = sliding_window_view(xp, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :out_h, :out_w]
            dw = np.einsum('nfhw,nchwij->fcij', dout, win)
            db = dout.sum(axis=(0, 2, 3))
            dxp = np.zeros_like(xp)
            for i in range(HH):
                for j in range(WW):
                    dxp[:, :, i:i + stride * out_h:stride, j:j + stride * out_w:stride] += np.einsum(
                        'nfhw,fc->nchw', dout, w[:, :, i, j])
            return dxp[:, :, pad:pad + H, pad:pad + W], dw, db
    ''',
    "max_pool_forward_naive": '''
        def max_pool_forward_naive(x, pool_param):
            from numpy.lib.stride_tricks import sliding_window_view
            ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
            N, C, H, W = x.shape
            out_h, out_w = 1 + (H - ph) // s, 1 + (W - pw) // s
            win = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s][:, :, :out_h, :out_w]
            flat = win.reshape(N, C, out_h, out_w, ph * pw)
            return flat.max(axis=-1), (x.shape, flat.argmax(axis=-1), pool_param)
    ''',
    "max_pool_backward_naive": '''
        def max_pool_backward_naive(dout, cache):
            shape, arg, pool_param = cache
            pw, s = pool_param['pool_width'], pool_param['stride']
            dx = np.zeros(shape)
            n, c, i, j = np.indices(dout.shape)
            np.add.at(dx, (n, c, i * s + arg // pw, j * s + arg % pw), dout)
            return dx
    ''',
    # rows in (H, W, N) order and a wrapped cache: any row order is right, batchnorm is per column
    "spatial_batchnorm_forward": '''
        def spatial_batchnorm_forward(x, gamma, beta, bn_param):
            N, C, H, W = x.shape
            rows = x.transpose(2, 3, 0, 1).reshape(-1, C)
            out_rows, bn_cache = batchnorm_forward(rows, gamma, beta, bn_param)
            return out_rows.reshape(H, W, N, C).transpose(2, 3, 0, 1), (bn_cache, x.shape)
    ''',
    "spatial_batchnorm_backward": '''
        def spatial_batchnorm_backward(dout, cache):
            bn_cache, (N, C, H, W) = cache
            dx_rows, dgamma, dbeta = batchnorm_backward(dout.transpose(2, 3, 0, 1).reshape(-1, C), bn_cache)
            return dx_rows.reshape(H, W, N, C).transpose(2, 3, 0, 1), dgamma, dbeta
    ''',
}

LOOPS_AND_OWN_MATH = {
    "conv_forward_naive": '''
        def conv_forward_naive(x, w, b, conv_param):
            stride, pad = conv_param['stride'], int(conv_param['pad'])
            N, C, H, W = x.shape
            F, _, HH, WW = w.shape
            xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), 'constant')
            out = np.zeros((N, F, 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride))
            for n in range(N):
                for f in range(F):
                    for i in range(out.shape[2]):
                        for j in range(out.shape[3]):
                            window = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                            out[n, f, i, j] = np.sum(window * w[f]) + b[f]
            return out, (x, w, b, conv_param)
    ''',
    "conv_backward_naive": '''
        def conv_backward_naive(dout, cache):
            x, w, b, conv_param = cache
            stride, pad = conv_param['stride'], int(conv_param['pad'])
            N, C, H, W = x.shape
            F, _, HH, WW = w.shape
            xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), 'constant')
            dxp, dw, db = np.zeros_like(xp), np.zeros_like(w), np.zeros_like(b)
            for n in range(N):
                for f in range(F):
                    for i in range(dout.shape[2]):
                        for j in range(dout.shape[3]):
                            rows = slice(i * stride, i * stride + HH)
                            cols = slice(j * stride, j * stride + WW)
                            db[f] += dout[n, f, i, j]
                            dw[f] += dout[n, f, i, j] * xp[n, :, rows, cols]
                            dxp[n, :, rows, cols] += dout[n, f, i, j] * w[f]
            return dxp[:, :, pad:pad + H, pad:pad + W], dw, db
    ''',
    "max_pool_forward_naive": '''
        def max_pool_forward_naive(x, pool_param):
            ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
            N, C, H, W = x.shape
            out = np.zeros((N, C, 1 + (H - ph) // s, 1 + (W - pw) // s))
            for n in range(N):
                for c in range(C):
                    for i in range(out.shape[2]):
                        for j in range(out.shape[3]):
                            out[n, c, i, j] = np.max(x[n, c, i * s:i * s + ph, j * s:j * s + pw])
            return out, (x, pool_param, out)
    ''',
    "max_pool_backward_naive": '''
        def max_pool_backward_naive(dout, cache):
            x, pool_param, out = cache
            ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
            dx = np.zeros_like(x)
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = x[:, :, i * s:i * s + ph, j * s:j * s + pw]
                    mask = window == out[:, :, i, j][:, :, None, None]
                    dx[:, :, i * s:i * s + ph, j * s:j * s + pw] += mask * dout[:, :, i, j][:, :, None, None]
            return dx
    ''',
    # batchnorm written out, not called: the substitution has nothing to replace
    "spatial_batchnorm_forward": '''
        def spatial_batchnorm_forward(x, gamma, beta, bn_param):
            eps, momentum = bn_param.get('eps', 1e-5), bn_param.get('momentum', 0.9)
            C = x.shape[1]
            g, bt = gamma.reshape(1, C, 1, 1), beta.reshape(1, C, 1, 1)
            if bn_param['mode'] == 'train':
                mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
                bn_param['running_mean'] = momentum * bn_param.get('running_mean', np.zeros(C)) + (1 - momentum) * mean
                bn_param['running_var'] = momentum * bn_param.get('running_var', np.zeros(C)) + (1 - momentum) * var
            else:
                mean, var = bn_param['running_mean'], bn_param['running_var']
            x_hat = (x - mean.reshape(1, C, 1, 1)) / np.sqrt(var.reshape(1, C, 1, 1) + eps)
            return g * x_hat + bt, (x_hat, g, np.sqrt(var.reshape(1, C, 1, 1) + eps))
    ''',
    "spatial_batchnorm_backward": '''
        def spatial_batchnorm_backward(dout, cache):
            x_hat, g, std = cache
            m = dout.shape[0] * dout.shape[2] * dout.shape[3]
            dbeta = dout.sum(axis=(0, 2, 3))
            dgamma = (dout * x_hat).sum(axis=(0, 2, 3))
            dx_hat = dout * g
            dx = (m * dx_hat - dx_hat.sum(axis=(0, 2, 3), keepdims=True)
                  - x_hat * (dx_hat * x_hat).sum(axis=(0, 2, 3), keepdims=True)) / (m * std)
            return dx, dgamma, dbeta
    ''',
}

# -- one realistic bug per function ------------------------------------------------------------

BUGS = {
    "conv_forward_naive": '''
        def conv_forward_naive(x, w, b, conv_param):
            stride, pad = conv_param['stride'], int(conv_param['pad'])
            N, C, H, W = x.shape
            F, _, HH, WW = w.shape
            xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), 'constant')
            out = np.zeros((N, F, 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride))
            for n in range(N):
                for f in range(F):
                    for i in range(out.shape[2]):
                        for j in range(out.shape[3]):
                            out[n, f, i, j] = np.sum(xp[n, :, i * stride:i * stride + HH,
                                                        j * stride:j * stride + WW] * w[f])  # no + b[f]
            return out, (x, w, b, conv_param)
    ''',
    "conv_backward_naive": LOOPS_AND_OWN_MATH["conv_backward_naive"].replace(
        "dxp[n, :, rows, cols] += dout", "dxp[n, :, rows, cols] = dout"),  # overlapping windows overwritten
    "max_pool_forward_naive": LOOPS_AND_OWN_MATH["max_pool_forward_naive"].replace(
        "x[n, c, i * s:i * s + ph, j * s:j * s + pw]", "x[n, c, i * s:i * s + pw, j * s:j * s + ph]").replace(
        "return out, (x, pool_param, out)", "return out, (x, pool_param)"),
    "max_pool_backward_naive": '''
        def max_pool_backward_naive(dout, cache):
            x, pool_param = cache
            ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
            dx = np.zeros_like(x)
            for n in range(x.shape[0]):
                for c in range(x.shape[1]):
                    for i in range(dout.shape[2]):
                        for j in range(dout.shape[3]):
                            window = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
                            r, k = divmod(int(np.argmax(window)), ph)  # should divide by pw
                            dx[n, c, i * s + r, j * s + k] += dout[n, c, i, j]
            return dx
    ''',
    "spatial_batchnorm_forward": '''
        def spatial_batchnorm_forward(x, gamma, beta, bn_param):
            N, C, H, W = x.shape
            out, cache = batchnorm_forward(x.reshape(N * H * W, C), gamma, beta, bn_param)
            return out.reshape(N, C, H, W), cache
    ''',
    "spatial_batchnorm_backward": '''
        def spatial_batchnorm_backward(dout, cache):
            N, C, H, W = dout.shape
            dx, dgamma, dbeta = batchnorm_backward(dout.transpose(0, 2, 3, 1).reshape(-1, C), cache)
            return dx.reshape(N, C, H, W), dgamma, dbeta
    ''',
}

# -- broken dependencies: batchnorm itself wrong, conv/pool forward blank ------------------------

BROKEN_BATCHNORM = {
    "batchnorm_forward": '''
        def batchnorm_forward(x, gamma, beta, bn_param):
            mean, var = x.mean(axis=0), x.var(axis=0, ddof=1)  # corrected variance, no running averages
            x_hat = (x - mean) / np.sqrt(var)
            return gamma * x_hat + beta, (x_hat, gamma)
    ''',
    "batchnorm_backward": '''
        def batchnorm_backward(dout, cache):
            x_hat, gamma = cache
            return dout * gamma, np.sum(dout * x_hat, axis=0), np.sum(dout, axis=0)  # no mean terms
    ''',
}
BLANK_FORWARDS = {name: f'''
        def {name}(*args):
            raise NotImplementedError()
    ''' for name in ("conv_forward_naive", "max_pool_forward_naive")}


def test_solved_copy_gets_full_marks(tmp_path):
    """Does the reference solution earn every point of the six functions?"""
    results = grade(copy_of(SOLVED, tmp_path / "solved"), tmp_path)
    assert lost(results) == {}, [(t["name"], t["output"]) for t in results["tests"] if t["status"] != "passed"]
    assert results["score"] == pytest.approx(sum(FUNCTIONS.values()))


def test_blank_release_gets_zero_and_says_not_implemented(tmp_path):
    """Does the blank release score 0 on every test, each saying its function is not implemented?"""
    results = grade(copy_of(RELEASE, tmp_path / "release"), tmp_path)
    assert results["score"] == 0
    assert {tag for t in results["tests"] for tag in t["tags"]} == set(FUNCTIONS)
    for test in results["tests"]:
        assert test["output"] == f"{test['tags'][0]} is not implemented yet (it still raises NotImplementedError).", \
            test


@pytest.mark.parametrize("alternative", [VECTORIZED, LOOPS_AND_OWN_MATH], ids=["vectorized", "loops-own-math"])
def test_correct_alternative_implementations_get_full_marks(tmp_path, alternative):
    """Vectorized code, dict/argmax/wrapped caches, (H, W, N)-ordered rows, batchnorm written out: full marks?"""
    results = grade(solved_with(tmp_path / "alt", {"nnl/conv_layers.py": alternative}), tmp_path)
    assert lost(results) == {}, [(t["name"], t["output"]) for t in results["tests"] if t["status"] != "passed"]


@pytest.fixture(scope="module")
def bug_results(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("bugs")
    return grade(solved_with(tmp_path / "bugs", {"nnl/conv_layers.py": BUGS}), tmp_path)


def test_each_bug_costs_points_in_its_own_function_only(bug_results):
    """Does every buggy function lose points, each failing test's feedback naming it?"""
    assert set(lost(bug_results)) == set(FUNCTIONS), lost(bug_results)
    for test in bug_results["tests"]:
        if test["score"] < test["max_score"]:
            assert test["output"].startswith(test["tags"][0]), test


def test_bugs_cost_only_the_affected_tests(bug_results):
    """Do the bugs cost exactly the tests they should: dx only for conv/spatial backward, non-square pools only?"""
    failed = {t["name"].split(": ", 1)[1] for t in bug_results["tests"] if t["score"] < t["max_score"]}
    conv_backward = {n for n in failed if n.startswith("test_conv_backward")}
    assert conv_backward and all(n.endswith("-dx]") for n in conv_backward), conv_backward
    sbn_backward = {n for n in failed if n.startswith("test_spatial_batchnorm_backward")}
    assert sbn_backward and all(n.endswith("-dx]") for n in sbn_backward), sbn_backward
    pools = {n for n in failed if n.startswith("test_max_pool")}
    nonsquare = ("2x3-s1-overlap", "3x2-s2", "2x3-s2-untiled-nonsquare")
    assert pools == {f"test_max_pool_{kind}[{case}]" for case in nonsquare
                     for kind in ("forward_matches_reference", "backward_gradient")}, pools


@pytest.mark.parametrize("function, diagnosis", [
    ("conv_forward_naive", "your output equals the convolution without the bias b"),
    ("max_pool_forward_naive", "(the two are swapped)"),
    ("spatial_batchnorm_forward", "reshape to (N*H*W, C) without moving C last first"),
    ("spatial_batchnorm_backward", "output straight to (N, C, H, W): reshape to (N, H, W, C), then transpose"),
])
def test_feedback_names_the_mistake(bug_results, function, diagnosis):
    """Does the feedback of a catalogued mistake say which mistake it is?"""
    outputs = failing_outputs(bug_results, function)
    assert outputs and all(diagnosis in o or "Hint" in o for o in outputs), outputs
    assert any(diagnosis in o for o in outputs), outputs


def test_gradient_feedback_is_a_measured_error_not_arrays(bug_results):
    """Does a wrong gradient's feedback say what was checked, then both relative errors, then a hint, no array?"""
    output = failing_outputs(bug_results, "conv_backward_naive")[0]
    checked, found, hint = output.split("\n")[:3]
    assert checked.startswith("conv_backward_naive dx (") and checked.endswith(":"), output
    assert "relative error" in found and "against the numerical gradient of" in found, output
    assert "against a correct dx" in found and hint.startswith("Hint: "), output
    assert len(output) < 700 and "array(" not in output and "[[" not in output, output


def test_broken_dependencies_cost_only_their_own_functions(tmp_path):
    """With batchnorm broken and conv/pool forward blank, do spatial batchnorm and both backwards keep every point?"""
    submission = solved_with(tmp_path / "deps", {"nnl/layers.py": BROKEN_BATCHNORM,
                                                 "nnl/conv_layers.py": BLANK_FORWARDS})
    results = grade(submission, tmp_path)
    assert lost(results) == {"conv_forward_naive": 10, "max_pool_forward_naive": 6}, \
        [(t["name"], t["output"]) for t in results["tests"] if t["status"] != "passed"]


# -- wrappers on the student's own helpers: graded on the student's chain first ------------------

OWN_BATCHNORM_HELPERS = {  # a correct batchnorm with a dict cache, its backward in a helper of another name
    "batchnorm_forward": '''
        def batchnorm_forward(x, gamma, beta, bn_param):
            eps, momentum = bn_param.get('eps', 1e-5), bn_param.get('momentum', 0.9)
            D = x.shape[1]
            running_mean = bn_param.get('running_mean', np.zeros(D))
            running_var = bn_param.get('running_var', np.zeros(D))
            cache = None
            if bn_param['mode'] == 'train':
                mu, var = x.mean(axis=0), x.var(axis=0)
                x_hat = (x - mu) / np.sqrt(var + eps)
                out = gamma * x_hat + beta
                cache = {'x_hat': x_hat, 'gamma': gamma, 'std': np.sqrt(var + eps)}
                running_mean = momentum * running_mean + (1 - momentum) * mu
                running_var = momentum * running_var + (1 - momentum) * var
            else:
                out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
            bn_param['running_mean'], bn_param['running_var'] = running_mean, running_var
            return out, cache
    ''',
    "batchnorm_backward": '''
        def batchnorm_backward_alt(dout, cache):
            x_hat, gamma, std = cache['x_hat'], cache['gamma'], cache['std']
            m = dout.shape[0]
            dx_hat = dout * gamma
            dx = (m * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0)) / (m * std)
            return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)

        def batchnorm_backward(dout, cache):
            return batchnorm_backward_alt(dout, cache)
    ''',
}
WRAPPERS_ON_OWN_HELPERS = {  # the wrappers rely on that cache layout and call the helper by its own name
    "spatial_batchnorm_forward": '''
        def spatial_batchnorm_forward(x, gamma, beta, bn_param):
            N, C, H, W = x.shape
            out, cache = batchnorm_forward(x.transpose(0, 2, 3, 1).reshape(-1, C), gamma, beta, bn_param)
            if cache is not None:
                cache['shape'] = (N, C, H, W)
            return out.reshape(N, H, W, C).transpose(0, 3, 1, 2), cache
    ''',
    "spatial_batchnorm_backward": '''
        def spatial_batchnorm_backward(dout, cache):
            N, C, H, W = cache['shape']
            dx, dgamma, dbeta = batchnorm_backward_alt(dout.transpose(0, 2, 3, 1).reshape(-1, C), cache)
            return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta
    ''',
}


def test_a_correct_wrapper_on_its_own_helpers_gets_full_marks(tmp_path):
    """Does spatial batchnorm built on the student's own helper and cache layout earn every point?"""
    submission = solved_with(tmp_path / "helpers", {"nnl/layers.py": OWN_BATCHNORM_HELPERS,
                                                    "nnl/conv_layers.py": WRAPPERS_ON_OWN_HELPERS})
    results = grade(submission, tmp_path)
    assert lost(results) == {}, [(t["name"], t["output"]) for t in results["tests"] if t["status"] != "passed"]


def test_a_wrapper_passing_only_with_a_correct_dependency_says_so(tmp_path):
    """With batchnorm broken, does a right wrapper pass, its feedback saying a correct batchnorm stood in?"""
    results = grade(solved_with(tmp_path / "deps", {"nnl/layers.py": BROKEN_BATCHNORM}), tmp_path)
    assert lost(results) == {}, lost(results)
    notes = [t["output"] for t in results["tests"] if t["tags"] == ["spatial_batchnorm_backward"]]
    assert notes and all(n.startswith("Passed with a correct batchnorm_forward, batchnorm_backward in place of "
                                      "yours") for n in notes), notes


# -- pooling windows that do not tile the input (the docstring's floor division) ---------------------

UNTILED_POOL_BUGS = {  # right wherever the windows tile the input, wrong where they do not
    "max_pool_forward_naive": LOOPS_AND_OWN_MATH["max_pool_forward_naive"].replace(
        "out = np.zeros((N, C, 1 + (H - ph) // s, 1 + (W - pw) // s))",
        "out = np.zeros((N, C, int(1 + (H - ph) / s + 0.5), int(1 + (W - pw) / s + 0.5)))"),  # rounded
    "max_pool_backward_naive": LOOPS_AND_OWN_MATH["max_pool_backward_naive"].replace(
        "for i in range(dout.shape[2]):\n                for j in range(dout.shape[3]):",
        "for i in range((x.shape[2] - ph) / s + 1):\n                for j in range((x.shape[3] - pw) / s + 1):"),
}


def test_pooling_where_the_windows_do_not_tile_the_input_is_graded(tmp_path):
    """Do pools that round the window count, or crash on (8 - 3) / 2 windows, lose points (forward and backward)?"""
    submission = solved_with(tmp_path / "untiled", {"nnl/conv_layers.py": UNTILED_POOL_BUGS})
    results = grade(submission, tmp_path)
    assert set(lost(results)) == {"max_pool_forward_naive", "max_pool_backward_naive"}, lost(results)
    failed = {t["name"].split(": ", 1)[1] for t in results["tests"] if t["score"] < t["max_score"]}
    forward = {n for n in failed if n.startswith("test_max_pool_forward")}
    backward = {n for n in failed if n.startswith("test_max_pool_backward")}
    assert forward and all("untiled" in n for n in forward), forward
    assert any("nonsquare" in n for n in forward) and any("nonsquare" not in n for n in forward), forward
    assert backward and any("nonsquare" in n for n in backward), backward
    assert any("floor division" in o for o in failing_outputs(results, "max_pool_forward_naive")), \
        failing_outputs(results, "max_pool_forward_naive")
