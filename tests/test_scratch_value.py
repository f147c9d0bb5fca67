"""The scalar computational graph (cnnlab.scratch.Value) against torch autograd."""
from __future__ import annotations

import math

import pytest
import torch

from cnnlab.scratch import Value


def test_course_example_add_then_multiply() -> None:
    x, y, z = Value(-2.0), Value(5.0), Value(-4.0)
    f = (x + y) * z
    f.backward()
    assert f.data == -12.0
    assert (x.grad, y.grad, z.grad) == (-4.0, -4.0, 3.0)


def test_sigmoid_neuron_matches_torch() -> None:
    numbers = [2.0, -1.0, -3.0, -2.0, -3.0]  # w0, x0, w1, x1, w2
    w0, x0, w1, x1, w2 = (Value(v) for v in numbers)
    f = 1 / (1 + (-(w0 * x0 + w1 * x1 + w2)).exp())
    f.backward()
    t = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in numbers]
    f_t = torch.sigmoid(t[0] * t[1] + t[2] * t[3] + t[4])
    f_t.backward()
    assert f.data == pytest.approx(f_t.item(), rel=1e-12)
    for ours, theirs in zip((w0, x0, w1, x1, w2), t):
        assert ours.grad == pytest.approx(theirs.grad.item(), rel=1e-12)


def expression(a, b, c, ops):
    """The same formula for Value and for torch tensors; a node (d) is used twice."""
    d = a * b + c ** 2 - a / 3
    e = ops["relu"](d) + ops["sigmoid"](c * d) + ops["tanh"](b - 2.5)
    return e * ops["log"](ops["exp"](a) + 1.0) / (2 + d * d) + (1 - b) * e


def test_random_expression_matches_torch() -> None:
    values = [0.7, -1.3, 2.1]
    mine = [Value(v) for v in values]
    out = expression(*mine, {name: getattr(Value, name) for name in ("relu", "sigmoid", "tanh", "log", "exp")})
    out.backward()
    theirs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    out_t = expression(*theirs, {name: getattr(torch, name) for name in ("relu", "sigmoid", "tanh", "log", "exp")})
    out_t.backward()
    assert out.data == pytest.approx(out_t.item(), rel=1e-12)
    for ours, ref in zip(mine, theirs):
        assert ours.grad == pytest.approx(ref.grad.item(), rel=1e-10)


def test_backward_twice_gives_the_same_gradients_and_deep_graphs_work() -> None:
    x = Value(0.5)
    y = x
    for _ in range(5000):  # deeper than Python's recursion limit
        y = y * 1.0001
    y.backward()
    first = x.grad
    y.backward()
    assert x.grad == first == pytest.approx(1.0001 ** 5000)
    assert math.isclose(y.data, 0.5 * 1.0001 ** 5000, rel_tol=1e-9)
