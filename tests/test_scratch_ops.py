"""Every NumPy op of cnnlab.scratch against torch (forward and autograd) and a centred numerical gradient.

All in float64: forward and backward must agree with torch and with (f(x+h) - f(x-h)) / 2h,
h = 1e-5, to a relative error below 1e-6.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlab import scratch as S
from cnnlab.errors import ConfigError, ShapeError
from cnnlab.scratch.gradcheck import numerical_gradient, numerical_gradient_array, rel_error

TOL = 1e-6


def check_op(
    forward: Callable, backward: Callable, torch_fn: Callable, arrays: list[np.ndarray]
) -> None:
    """``forward(*arrays) -> (out, cache)``, ``backward(dout, cache) -> grads`` (one per array, in order).

    Checks out against ``torch_fn(*tensors)`` and every gradient against torch autograd and the
    numerical gradient.
    """
    rng = np.random.default_rng(12345)  # not a seed the inputs use: dout must not be parallel to them
    out, cache = forward(*arrays)
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out_t = torch_fn(*tensors)
    assert out.shape == tuple(out_t.shape)
    assert rel_error(out, out_t.detach().numpy()) < TOL

    dout = rng.normal(size=out.shape)
    out_t.backward(torch.from_numpy(dout))
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for k in range(len(arrays)):
        assert grads[k].shape == arrays[k].shape
        assert rel_error(grads[k], tensors[k].grad.numpy()) < TOL, f"gradient {k} differs from torch"

        def f(value: np.ndarray, k: int = k) -> np.ndarray:
            args = list(arrays)
            args[k] = value
            return forward(*args)[0]

        numeric = numerical_gradient_array(f, arrays[k].copy(), dout)
        assert rel_error(grads[k], numeric) < TOL, f"gradient {k} differs from the numerical gradient"


def normal(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


# --------------------------------------------------------------------------------------------
# gradcheck itself


def test_rel_error_and_numerical_gradient() -> None:
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    x = np.array([0.3, -1.2, 2.0])
    grad = numerical_gradient(lambda v: float(np.sum(v ** 3)), x)
    assert rel_error(grad, 3 * x ** 2) < 1e-8
    assert np.array_equal(x, [0.3, -1.2, 2.0])  # restored after probing


# --------------------------------------------------------------------------------------------
# convolution


def test_corr2d_matches_torch() -> None:
    check_op(
        lambda x, k: (S.corr2d(x, k), (x, k)),
        lambda d, cache: S.corr2d_backward(d, *cache),
        lambda x, k: F.conv2d(x[None, None], k[None, None])[0, 0],
        [normal(5, 6), normal(2, 3, seed=1)],
    )


CONV_CASES = {
    # name: (x shape, w shape, options)
    "plain": ((2, 3, 6, 5), (4, 3, 3, 3), {}),
    "stride-pad": ((2, 2, 7, 7), (3, 2, 3, 3), dict(stride=2, padding=1)),
    "rect": ((1, 2, 6, 7), (2, 2, 2, 3), dict(stride=(2, 1), padding=(0, 2))),
    "dilation": ((2, 2, 7, 6), (2, 2, 3, 2), dict(dilation=2, padding=1)),
    "groups": ((2, 4, 5, 5), (6, 2, 3, 3), dict(groups=2, padding=1)),
    "depthwise": ((1, 3, 5, 5), (3, 1, 3, 3), dict(groups=3, stride=2, dilation=(1, 2), padding=2)),
}


@pytest.mark.parametrize("impl", ["naive", "im2col"])
@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv2d_matches_torch(impl: str, case: str) -> None:
    x_shape, w_shape, options = CONV_CASES[case]
    forward, backward = S.layers.CONV_IMPLEMENTATIONS[impl]
    check_op(
        lambda x, w, b: forward(x, w, b, **options),
        backward,
        lambda x, w, b: F.conv2d(x, w, b, **options),
        [normal(*x_shape), normal(*w_shape, seed=1), normal(w_shape[0], seed=2)],
    )


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_im2col_equals_naive(case: str) -> None:
    x_shape, w_shape, options = CONV_CASES[case]
    x, w = normal(*x_shape), normal(*w_shape, seed=1)
    out_naive, cache_naive = S.conv2d_naive_forward(x, w, None, **options)
    out_fast, cache_fast = S.conv2d_im2col_forward(x, w, None, **options)
    assert rel_error(out_fast, out_naive) < 1e-12
    dout = normal(*out_naive.shape, seed=3)
    dx_naive, dw_naive, db_naive = S.conv2d_naive_backward(dout, cache_naive)
    dx_fast, dw_fast, db_fast = S.conv2d_im2col_backward(dout, cache_fast)
    assert rel_error(dx_fast, dx_naive) < 1e-12 and rel_error(dw_fast, dw_naive) < 1e-12
    assert db_naive is None and db_fast is None


def test_col2im_is_the_adjoint_of_im2col() -> None:
    # <im2col(x), c> == <x, col2im(c)> for every x and c: the defining property of the backward pass.
    x = normal(2, 3, 7, 6)
    geo = S.conv.conv_geometry(x, normal(1, 3, 3, 2), stride=2, dilation=(1, 2))
    cols = S.im2col(x, (3, 2), geo)
    c = normal(*cols.shape, seed=1)
    assert np.sum(cols * c) == pytest.approx(np.sum(x * S.col2im(c, x.shape, (3, 2), geo)), rel=1e-12)


def test_conv_shape_errors() -> None:
    with pytest.raises(ShapeError, match="kernel covers 5 pixels"):
        S.conv2d_im2col_forward(normal(1, 1, 4, 4), normal(1, 1, 5, 5))
    with pytest.raises(ShapeError, match="groups=2"):
        S.conv2d_naive_forward(normal(1, 3, 4, 4), normal(2, 1, 3, 3), groups=2)
    with pytest.raises(ShapeError, match="input channels per filter"):
        S.conv2d_im2col_forward(normal(1, 3, 4, 4), normal(2, 2, 3, 3))


def test_output_size_course_examples() -> None:
    assert S.output_size(7, 3, stride=1) == 5
    assert S.output_size(7, 3, stride=2) == 3
    assert S.output_size(7, 3, stride=1, padding=1) == 7
    assert S.output_size(32, 5, stride=1, padding=2) == 32


# --------------------------------------------------------------------------------------------
# pooling

POOL_CASES = [(2, None, 0), (3, 2, 1), (3, 1, 0), ((2, 3), (1, 2), (1, 1))]


@pytest.mark.parametrize("kernel, stride, padding", POOL_CASES)
@pytest.mark.parametrize("mode, torch_fn", [("max", F.max_pool2d), ("avg", F.avg_pool2d)])
def test_pooling_matches_torch(mode: str, torch_fn: Callable, kernel, stride, padding) -> None:
    forward, backward = getattr(S, f"{mode}_pool2d_forward"), getattr(S, f"{mode}_pool2d_backward")
    check_op(
        lambda x: forward(x, kernel, stride, padding),
        backward,
        lambda x: torch_fn(x, kernel, stride, padding),
        [normal(2, 3, 6, 7)],
    )


def test_max_pool_ties_send_gradient_to_the_first_maximum_like_torch() -> None:
    x = np.ones((1, 1, 2, 2))
    _, cache = S.max_pool2d_forward(x, 2)
    xt = torch.tensor(x, requires_grad=True)
    F.max_pool2d(xt, 2).sum().backward()
    assert np.array_equal(S.max_pool2d_backward(np.ones((1, 1, 1, 1)), cache), xt.grad.numpy())


def test_pool_padding_larger_than_half_the_window_is_refused() -> None:
    with pytest.raises(ShapeError, match="at most half"):
        S.max_pool2d_forward(normal(1, 1, 4, 4), 2, 1, 2)


# --------------------------------------------------------------------------------------------
# batch norm


def test_batchnorm_training_matches_torch() -> None:
    check_op(
        lambda x, g, b: S.batchnorm_forward(x, g, b),
        S.batchnorm_backward,
        lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True),
        [normal(8, 5) * 3 + 1, normal(5, seed=1), normal(5, seed=2)],
    )


def test_batchnorm_inference_matches_torch() -> None:
    mean, var = normal(5, seed=3), np.abs(normal(5, seed=4)) + 0.5
    check_op(
        lambda x, g, b: S.batchnorm_forward(x, g, b, mean=mean, var=var),
        S.batchnorm_backward,
        lambda x, g, b: F.batch_norm(x, torch.from_numpy(mean), torch.from_numpy(var), g, b, training=False),
        [normal(4, 5), normal(5, seed=1), normal(5, seed=2)],
    )


@pytest.mark.parametrize("training", [True, False])
def test_spatial_batchnorm_matches_torch(training: bool) -> None:
    stats = {} if training else {"mean": normal(4, seed=3), "var": np.abs(normal(4, seed=4)) + 0.5}
    torch_stats = [torch.from_numpy(stats["mean"]), torch.from_numpy(stats["var"])] if stats else [None, None]
    check_op(
        lambda x, g, b: S.spatial_batchnorm_forward(x, g, b, **stats),
        S.spatial_batchnorm_backward,
        lambda x, g, b: F.batch_norm(x, *torch_stats, g, b, training=training),
        [normal(3, 4, 3, 2) * 2 - 1, normal(4, seed=1), normal(4, seed=2)],
    )


def test_batchnorm_layer_running_statistics_match_torch() -> None:
    ours = S.BatchNorm2d(3, momentum=0.1)
    ref = torch.nn.BatchNorm2d(3, momentum=0.1).double()
    for step in range(4):
        x = normal(4, 3, 5, 5, seed=step) * (step + 1) + step
        out = ours.forward(x)
        assert rel_error(out, ref(torch.from_numpy(x)).detach().numpy()) < TOL
    assert rel_error(ours.running_mean, ref.running_mean.numpy()) < TOL
    assert rel_error(ours.running_var, ref.running_var.numpy()) < TOL
    ours.training = False
    ref.eval()
    x = normal(2, 3, 5, 5, seed=9)
    assert rel_error(ours.forward(x), ref(torch.from_numpy(x)).detach().numpy()) < TOL


# --------------------------------------------------------------------------------------------
# dropout


def test_dropout_eval_is_identity_like_torch() -> None:
    x = normal(4, 6)
    out, mask = S.dropout_forward(x, 0.5, training=False, rng=np.random.default_rng(0))
    assert mask is None
    assert np.array_equal(out, F.dropout(torch.from_numpy(x), 0.5, training=False).numpy())
    assert np.array_equal(S.dropout_backward(x, mask), x)


def test_dropout_train_is_inverted_dropout() -> None:
    p, x = 0.3, np.abs(normal(200, 50)) + 0.1
    out, mask = S.dropout_forward(x, p, training=True, rng=np.random.default_rng(0))
    torch.manual_seed(0)
    out_t = F.dropout(torch.from_numpy(x), p, training=True).numpy()
    # Same rule as torch: survivors scaled by 1 / (1 - p), the rest zero, about p of them dropped.
    for result in (out, out_t):
        kept = result != 0
        assert np.allclose(result[kept], x[kept] / (1 - p))
        assert abs((~kept).mean() - p) < 0.02
    assert abs(out.mean() / x.mean() - 1) < 0.02  # expected value unchanged
    dout = normal(200, 50, seed=1)
    numeric = numerical_gradient_array(lambda v: v * mask, x.copy(), dout)
    assert rel_error(S.dropout_backward(dout, mask), numeric) < TOL


def test_dropout_probability_is_checked() -> None:
    with pytest.raises(ConfigError, match="dropout probability"):
        S.dropout_forward(normal(2, 2), 1.0, training=True, rng=np.random.default_rng(0))


# --------------------------------------------------------------------------------------------
# fully connected, activations, loss


def test_linear_matches_torch() -> None:
    # An image batch (N, C, H, W) is flattened first, as torch.nn.Flatten would.
    check_op(S.linear_forward, S.linear_backward, lambda x, w, b: F.linear(x.flatten(1), w, b),
             [normal(4, 2, 3, 2), normal(5, 12, seed=1), normal(5, seed=2)])


@pytest.mark.parametrize("name, torch_fn", [("relu", torch.relu), ("sigmoid", torch.sigmoid)])
def test_activation_matches_torch(name: str, torch_fn: Callable) -> None:
    forward, backward = getattr(S, f"{name}_forward"), getattr(S, f"{name}_backward")
    check_op(forward, backward, torch_fn, [normal(3, 4, 5)])


def test_sigmoid_does_not_overflow() -> None:
    out, _ = S.sigmoid_forward(np.array([-1000.0, 1000.0]))
    assert np.array_equal(out, [0.0, 1.0])


def test_softmax_cross_entropy_matches_torch() -> None:
    scores, y = normal(6, 4) * 3, np.array([0, 3, 1, 1, 2, 0])
    loss, dscores = S.softmax_cross_entropy(scores, y)
    scores_t = torch.tensor(scores, requires_grad=True)
    loss_t = F.cross_entropy(scores_t, torch.from_numpy(y))
    loss_t.backward()
    assert rel_error(loss, loss_t.item()) < TOL
    assert rel_error(dscores, scores_t.grad.numpy()) < TOL
    numeric = numerical_gradient(lambda s: S.softmax_cross_entropy(s, y)[0], scores.copy())
    assert rel_error(dscores, numeric) < TOL


def test_softmax_cross_entropy_is_stable_for_large_scores() -> None:
    loss, dscores = S.softmax_cross_entropy(np.array([[1000.0, 0.0]]), np.array([1]))
    assert loss == pytest.approx(1000.0) and np.all(np.isfinite(dscores))


# --------------------------------------------------------------------------------------------
# layers chained: the whole network's backward against torch autograd


def test_sequential_backward_matches_torch() -> None:
    rng = np.random.default_rng(0)
    net = S.Sequential([
        S.Conv2d(2, 3, 3, padding=1, rng=rng), S.BatchNorm2d(3), S.ReLU(), S.MaxPool2d(2),
        S.Linear(3 * 3 * 3, 5, rng=rng), S.Sigmoid(), S.Linear(5, 4, rng=rng),
    ])
    x, y = normal(4, 2, 6, 6, seed=1), np.array([0, 1, 2, 3])
    loss, dscores = S.softmax_cross_entropy(net.forward(x), y)
    dx = net.backward(dscores)

    conv, bn, _, _, fc1, _, fc2 = net.layers
    ref = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.BatchNorm2d(3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(27, 5), torch.nn.Sigmoid(), torch.nn.Linear(5, 4),
    ).double()
    with torch.no_grad():
        for ours, theirs in [(conv, ref[0]), (fc1, ref[5]), (fc2, ref[7])]:
            theirs.weight.copy_(torch.from_numpy(ours.params["w"]))
            theirs.bias.copy_(torch.from_numpy(ours.params["b"]))
    xt = torch.tensor(x, requires_grad=True)
    loss_t = F.cross_entropy(ref(xt), torch.from_numpy(y))
    loss_t.backward()
    assert rel_error(loss, loss_t.item()) < TOL
    assert rel_error(dx, xt.grad.numpy()) < TOL
    for ours, theirs in [(conv, ref[0]), (fc1, ref[5]), (fc2, ref[7])]:
        assert rel_error(ours.grads["w"], theirs.weight.grad.numpy()) < TOL
        assert rel_error(ours.grads["b"], theirs.bias.grad.numpy()) < TOL
    assert rel_error(bn.grads["gamma"], ref[1].weight.grad.numpy()) < TOL


def test_unknown_conv_implementation_is_refused() -> None:
    with pytest.raises(ConfigError, match="im2col"):
        S.Conv2d(1, 1, 3, impl="fft")
