"""A tiny computational graph: scalars that remember how they were computed and backpropagate.

Every arithmetic operation on ``Value`` objects creates a new node that records its inputs and a
small function that applies the chain rule locally: given the gradient of the final result with
respect to this node (``out.grad``), add each input's share to ``input.grad``. ``backward()`` visits
the nodes from the result back to the leaves (reverse topological order), so every node's gradient
is complete before it is passed on. The layers in this package do the same with whole arrays::

    x, y, z = Value(-2.0), Value(5.0), Value(-4.0)
    f = (x + y) * z        # f = -12
    f.backward()           # x.grad = -4, y.grad = -4, z.grad = 3
"""
from __future__ import annotations

import math
from typing import Callable, Union

Number = Union[int, float]


class Value:
    """A scalar node: ``data`` (its value) and ``grad`` (d result / d this node, after ``backward``)."""

    def __init__(self, data: Number, parents: tuple["Value", ...] = (), op: str = "") -> None:
        self.data = float(data)
        self.grad = 0.0
        self.parents = parents
        self.op = op  # how this node was made, for printing the graph
        self._backward: Callable[[], None] = lambda: None  # leaves pass nothing on

    @staticmethod
    def lift(other: "Value | Number") -> "Value":
        return other if isinstance(other, Value) else Value(other)

    # Each operation: compute the value, then say how the gradient flows back to the inputs.

    def __add__(self, other: "Value | Number") -> "Value":
        other = Value.lift(other)
        out = Value(self.data + other.data, (self, other), "+")

        def backward() -> None:  # d(a+b)/da = d(a+b)/db = 1: addition passes the gradient unchanged
            self.grad += out.grad
            other.grad += out.grad
        out._backward = backward
        return out

    def __mul__(self, other: "Value | Number") -> "Value":
        other = Value.lift(other)
        out = Value(self.data * other.data, (self, other), "*")

        def backward() -> None:  # d(ab)/da = b: multiplication swaps the inputs
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = backward
        return out

    def __pow__(self, exponent: Number) -> "Value":
        out = Value(self.data ** exponent, (self,), f"**{exponent}")

        def backward() -> None:
            self.grad += exponent * self.data ** (exponent - 1) * out.grad
        out._backward = backward
        return out

    def _unary(self, value: float, local_grad: float, op: str) -> "Value":
        """A function of one input whose derivative at this point is ``local_grad``."""
        out = Value(value, (self,), op)

        def backward() -> None:
            self.grad += local_grad * out.grad
        out._backward = backward
        return out

    def exp(self) -> "Value":
        e = math.exp(self.data)
        return self._unary(e, e, "exp")

    def log(self) -> "Value":
        return self._unary(math.log(self.data), 1.0 / self.data, "log")

    def relu(self) -> "Value":
        return self._unary(max(self.data, 0.0), float(self.data > 0), "relu")

    def sigmoid(self) -> "Value":
        s = 0.5 * (1.0 + math.tanh(0.5 * self.data))
        return self._unary(s, s * (1.0 - s), "sigmoid")

    def tanh(self) -> "Value":
        t = math.tanh(self.data)
        return self._unary(t, 1.0 - t * t, "tanh")

    # The rest are built from the operations above, so they need no backward of their own.

    def __neg__(self) -> "Value":
        return self * -1

    def __sub__(self, other: "Value | Number") -> "Value":
        return self + (-Value.lift(other))

    def __truediv__(self, other: "Value | Number") -> "Value":
        return self * Value.lift(other) ** -1

    def __radd__(self, other: Number) -> "Value":
        return self + other

    def __rmul__(self, other: Number) -> "Value":
        return self * other

    def __rsub__(self, other: Number) -> "Value":
        return Value.lift(other) - self

    def __rtruediv__(self, other: Number) -> "Value":
        return Value.lift(other) / self

    def backward(self) -> None:
        """Fill ``grad`` of every node this one depends on with d(self)/d(node) (old gradients are reset)."""
        order: list[Value] = []
        seen: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:  # depth-first, iterative so deep graphs cannot overflow Python's stack
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((parent, False) for parent in node.parents)
        for node in order:
            node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):  # the result first, the leaves last
            node._backward()

    def __repr__(self) -> str:
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"
