"""The course's worked examples (d2l chapter 6 and the lecture slides), computed by cnnlab.scratch.

Each expected number is the course's; torch confirms the ones that have a torch counterpart.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlab import scratch as S


def batch(x: np.ndarray) -> np.ndarray:
    """(H, W) -> (1, 1, H, W)."""
    return np.asarray(x, dtype=np.float64)[None, None]


def test_corr2d_course_example() -> None:
    # The course's example, also `cnnlab explain conv`'s: 1..9 and the kernel 0..3,
    # first element 0x1 + 1x2 + 2x4 + 3x5 = 25.
    x = np.arange(1.0, 10.0).reshape(3, 3)
    k = np.array([[0.0, 1.0], [2.0, 3.0]])
    assert np.array_equal(S.corr2d(x, k), [[25, 31], [43, 49]])
    out, _ = S.conv2d_naive_forward(batch(x), batch(k))
    assert np.array_equal(out[0, 0], [[25, 31], [43, 49]])


def edge_image() -> np.ndarray:
    x = np.ones((6, 8))
    x[:, 2:6] = 0  # a black band between two white regions
    return x


def test_edge_detector() -> None:
    x, k = edge_image(), np.array([[1.0, -1.0]])
    y = S.corr2d(x, k)
    assert y.shape == (6, 7)
    assert np.array_equal(y, np.tile([0, 1, 0, 0, 0, -1, 0], (6, 1)))  # +1 white->black, -1 black->white
    assert np.array_equal(S.corr2d(x.T, k), np.zeros((8, 5)))  # it only sees vertical edges
    torch_y = F.conv2d(torch.from_numpy(batch(x)), torch.from_numpy(batch(k)))[0, 0].numpy()
    assert np.array_equal(y, torch_y)


def test_learn_the_edge_kernel_back_from_x_and_y() -> None:
    x = batch(edge_image())
    y = batch(S.corr2d(edge_image(), np.array([[1.0, -1.0]])))
    w = np.random.default_rng(0).normal(size=(1, 1, 1, 2))  # a 1x2 convolution, no bias
    lr = 3e-2
    for _ in range(20):
        y_hat, cache = S.conv2d_im2col_forward(x, w)
        dy = 2 * (y_hat - y)                      # gradient of the squared error sum((y_hat - y)^2)
        _, dw, _ = S.conv2d_im2col_backward(dy, cache)
        w -= lr * dw
    assert np.allclose(w.reshape(1, 2), [[1.0, -1.0]], atol=0.05)


def test_two_input_channels() -> None:
    x0 = np.arange(9.0).reshape(3, 3)
    x = np.stack([x0, x0 + 1])[None]                                 # (1, 2, 3, 3)
    k = np.array([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])[None]  # (1, 2, 2, 2)
    for forward in (S.conv2d_naive_forward, S.conv2d_im2col_forward):
        out, _ = forward(x, k)
        assert np.array_equal(out[0, 0], [[56, 72], [104, 120]])
    # ... which is the sum over channels of one-channel cross-correlations.
    assert np.array_equal(S.corr2d(x[0, 0], k[0, 0]) + S.corr2d(x[0, 1], k[0, 1]), [[56, 72], [104, 120]])


def test_pooling_course_examples() -> None:
    x = batch(np.arange(9.0).reshape(3, 3))
    assert np.array_equal(S.max_pool2d_forward(x, 2, 1)[0][0, 0], [[4, 5], [7, 8]])
    assert np.array_equal(S.avg_pool2d_forward(x, 2, 1)[0][0, 0], [[2, 3], [5, 6]])
    slide = batch([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
    assert np.array_equal(S.max_pool2d_forward(slide, 2, 2)[0][0, 0], [[6, 8], [3, 4]])


def test_pooling_padding_and_stride() -> None:
    x = batch(np.arange(16.0).reshape(4, 4))
    assert np.array_equal(S.max_pool2d_forward(x, 3)[0][0, 0], [[10]])  # stride defaults to the window
    out, _ = S.max_pool2d_forward(x, 3, stride=2, padding=1)
    assert np.array_equal(out[0, 0], [[5, 7], [13, 15]])
    assert np.array_equal(out, F.max_pool2d(torch.from_numpy(x), 3, 2, 1).numpy())
    # Two channels: pooling works channel by channel, so the output keeps both.
    two = np.concatenate([x, x + 1], axis=1)
    out, _ = S.max_pool2d_forward(two, 3, stride=2, padding=1)
    assert out.shape == (1, 2, 2, 2) and np.array_equal(out[0, 1], [[6, 8], [14, 16]])


@pytest.mark.parametrize("forward", [S.conv2d_naive_forward, S.conv2d_im2col_forward])
def test_1x1_convolution_is_a_matrix_multiplication(forward) -> None:
    rng = np.random.default_rng(0)
    x, k = rng.normal(size=(3, 3, 3)), rng.normal(size=(2, 3, 1, 1))
    out, _ = forward(x[None], k)
    by_matmul = (k.reshape(2, 3) @ x.reshape(3, 9)).reshape(2, 3, 3)  # (C_out, C_in) @ (C_in, H*W)
    assert np.allclose(out[0], by_matmul, rtol=1e-12, atol=1e-12)
