"""The mutation catalogue of the CNN assignment's own functions: realistic mistakes, one or more each.

The mistakes of the layers and optimizers carried over from the fully connected homework are in
``mutations_layers.py``, a link to that homework's catalogue (one catalogue for both homeworks).
Each entry edits the reference (`source/cnn/nnl`) inside one function. `python -m autograder
validate cnn` grades every mutant and checks that each is caught and that every hidden test
fails on at least one of them. Keep the ``mistake`` texts short: feedback quotes them.
"""
from autograder.grading.mutations import Mutation as M

C, N = "nnl/conv_layers.py", "nnl/cnn.py"

MUTATIONS = [
    # --- conv_layers.py (new) ------------------------------------------------------------------------
    M("conv_no_bias", "conv_forward_naive", C, (("axis=(1, 2, 3)) + b", "axis=(1, 2, 3))"),),
      "the bias b is not added"),
    M("conv_ignores_stride", "conv_forward_naive", C,
      (("top, left = row * stride, col * stride", "top, left = row, col"),),
      "windows move by 1 pixel whatever the stride"),
    M("conv_backward_db_one_image", "conv_backward_naive", C,
      (("db = np.sum(dout, axis=(0, 2, 3))", "db = np.sum(dout[0], axis=(1, 2))"),),
      "db sums over the first image only, not the whole batch"),
    M("conv_backward_dx_assigned", "conv_backward_naive", C,
      (("left:left + WW] += np.sum(upstream * w, axis=0)", "left:left + WW] = np.sum(upstream * w, axis=0)"),),
      "dx is assigned instead of accumulated where windows overlap"),
    M("conv_backward_dw_assigned", "conv_backward_naive", C,
      (("dw += upstream * receptive_field", "dw = upstream * receptive_field"),),
      "dw is assigned instead of accumulated over positions and images"),
    M("pool_mean", "max_pool_forward_naive", C, (("np.max(region, axis=(2, 3))", "np.mean(region, axis=(2, 3))"),),
      "the windows are averaged, not maxed"),
    M("pool_ignores_stride", "max_pool_forward_naive", C,
      (("top, left = row * stride, col * stride", "top, left = row * pool_height, col * pool_width"),),
      "windows move by the pool size instead of the stride"),
    M("pool_windows_rounded_up", "max_pool_forward_naive", C,
      (("pooled_height = 1 + (H - pool_height) // stride", "pooled_height = 1 - (pool_height - H) // stride"),
       ("pooled_width = 1 + (W - pool_width) // stride", "pooled_width = 1 - (pool_width - W) // stride")),
      "the number of windows is rounded up where they do not tile the input (use floor division)"),
    M("pool_backward_windows_rounded_up", "max_pool_backward_naive", C,
      (("_, _, pooled_height, pooled_width = dout.shape",
        "pooled_height, pooled_width = 1 - (pool_height - H) // stride, 1 - (pool_width - W) // stride"),),
      "the backward pass counts the windows rounded up where they do not tile the input"),
    M("pool_backward_assigned", "max_pool_backward_naive", C,
      (("dx[n, c, top + max_row, left + max_col] += dout", "dx[n, c, top + max_row, left + max_col] = dout"),),
      "the gradient is assigned instead of accumulated where windows overlap"),
    M("pool_backward_spread", "max_pool_backward_naive", C,
      (("dx[n, c, top + max_row, left + max_col] += dout[n, c, row, col]",
        "dx[n, c, top:top + pool_height, left:left + pool_width] += dout[n, c, row, col] / region.size"),),
      "the gradient is spread over the window (average pooling) instead of going to the max"),
    M("spatial_bn_no_transpose", "spatial_batchnorm_forward", C,
      (("x.transpose(0, 2, 3, 1).reshape(N * H * W, C)", "x.reshape(N * H * W, C)"),),
      "x is reshaped to (N*H*W, C) without moving C last first"),
    M("spatial_bn_output_no_transpose", "spatial_batchnorm_forward", C,
      (("out_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)", "out_rows.reshape(N, C, H, W)"),),
      "the output is reshaped back to (N, C, H, W) without a transpose"),
    M("spatial_bn_backward_no_transpose", "spatial_batchnorm_backward", C,
      (("dout.transpose(0, 2, 3, 1).reshape(N * H * W, C)", "dout.reshape(N * H * W, C)"),),
      "dout is reshaped to (N*H*W, C) without moving C last first"),
    # --- cnn.py (new) -----------------------------------------------------------------------------------
    M("cnn_reg_without_half", "ThreeLayerConvNet", N,
      (("data_loss + 0.5 * self.reg * weight_norms", "data_loss + self.reg * weight_norms"),),
      "the regularization loss lacks the factor 0.5"),
    M("cnn_no_reg_gradient", "ThreeLayerConvNet", N, (("grads['W1'] = dW1 + self.reg * W1", "grads['W1'] = dW1"),),
      "the regularization gradient of W1 is missing"),
    M("cnn_w2_before_pooling", "ThreeLayerConvNet", N,
      (("pooled_features = num_filters * (H // 2) * (W // 2)", "pooled_features = num_filters * H * W"),),
      "W2 is sized for the conv output before pooling (H*W instead of H/2*W/2)"),
    M("cnn_random_bias", "ThreeLayerConvNet", N,
      (("self.params['b1'] = np.zeros(num_filters)", "self.params['b1'] = weight_scale * np.random.randn(num_filters)"),),
      "b1 starts random instead of zero"),
    M("cnn_no_hidden_relu", "ThreeLayerConvNet", N,
      (("hidden, hidden_block_cache = affine_relu_forward(pooled, W2, b2)",
        "hidden, hidden_block_cache = affine_forward(pooled, W2, b2)"),),
      "the hidden affine layer has no ReLU"),
    M("cnn_shared_bn_param", "ThreeLayerConvNet", N,
      (("pooled, W2, b2, gamma2, beta2, self.bn_params[1])", "pooled, W2, b2, gamma2, beta2, self.bn_params[0])"),),
      "both batchnorm layers share one bn_param (running averages of the wrong size)"),
    M("cnn_unscaled_weights", "ThreeLayerConvNet", N,
      (("self.params['W1'] = weight_scale * np.random.randn(", "self.params['W1'] = np.random.randn("),),
      "W1 is not scaled by weight_scale"),
]
