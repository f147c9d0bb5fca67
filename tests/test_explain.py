"""`cnnlab explain conv|pool`: the printed numbers are torch's and the written-out steps add up to them."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlab.errors import ConfigError, ShapeError
from cnnlab.scratch.explain import explain_conv, explain_pool, parse_array

from eval_support import run_cli


def torch_conv(x, k, stride=1, padding=0) -> np.ndarray:
    x, k = torch.tensor(x, dtype=torch.float64), torch.tensor(k, dtype=torch.float64)
    if x.ndim == 2:
        x, k = x[None], k[None]
    return F.conv2d(x[None], k[None], stride=stride, padding=padding)[0, 0].numpy()


def printed_grid(out: str, title: str) -> np.ndarray:
    """The matrix printed after the line starting with ``title``."""
    lines = out.split(title, 1)[1].splitlines()[1:]
    rows = []
    for line in lines:
        if not re.fullmatch(r"\s+-?[\d.]+(\s+-?[\d.]+)*", line):
            break
        rows.append([float(v) for v in line.split()])
    return np.array(rows)


def test_course_example_first_element_expansion(capsys) -> None:
    code, out, _ = run_cli(["explain", "conv"], capsys)
    assert code == 0
    assert "out[0,0] = 0x1 + 1x2 + 2x4 + 3x5 = 25" in out
    assert "0x5 + 1x6 + 2x8 + 3x9 = 49" in out
    expected = torch_conv([[1, 2, 3], [4, 5, 6], [7, 8, 9]], [[0, 1], [2, 3]])
    assert np.array_equal(expected, [[25, 31], [43, 49]])
    assert np.array_equal(printed_grid(out, "output (torch.nn.functional.conv2d)"), expected)


@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 1), (2, 0), (1, 2)])
def test_padding_and_stride_match_torch(capsys, stride, padding) -> None:
    x = [[1, -2, 3, 0], [4, 5, -6, 1], [7, 8, 9, 2], [0, 1, 2, 3], [5, 4, 3, 2]]
    k = [[0.5, 1, 2], [2, 3, -1]]
    code, out, _ = run_cli(["explain", "conv", "-i", str(x), "-k", str(k), "-s", stride, "-p", padding], capsys)
    assert code == 0, out
    expected = torch_conv(x, k, stride, padding)
    assert np.allclose(printed_grid(out, "output (torch"), expected)
    # every printed step's products add up to the value it states
    steps = re.findall(r"= ((?:\S+x\S+(?: \+ )?)+) = (\S+)", out)
    assert len(steps) == expected.size
    for terms, value in steps:
        products = [float(a.strip("()")) * float(b.strip("()")) for a, b in
                    (t.split("x") for t in terms.split(" + "))]
        assert sum(products) == pytest.approx(float(value))


def test_explain_conv_steps_sum_to_torch_output() -> None:
    rng = np.random.default_rng(0)
    x, k = rng.integers(-5, 6, size=(3, 5, 6)), rng.integers(-3, 4, size=(3, 3, 2))
    result = explain_conv(x.tolist(), k.tolist(), stride=2, padding=1)
    expected = torch_conv(x, k, stride=2, padding=1)
    assert np.array_equal(result.output, expected)
    for step in result.steps:
        assert len(step.channels) == 3
        assert sum(part.total for part in step.channels) == expected[step.position]
        for part in step.channels:
            assert part.total == sum(a * b for a, b in zip(part.kernel, part.window))


def test_two_channel_demo(capsys) -> None:
    code, out, _ = run_cli(["explain", "conv", "--channels"], capsys)
    assert code == 0
    assert "sum over channels: 19 + 37 = 56" in out
    assert np.array_equal(printed_grid(out, "output (torch"), [[56, 72], [104, 120]])


def test_max_pool_course_example(capsys) -> None:
    code, out, _ = run_cli(["explain", "pool"], capsys)
    assert code == 0
    assert "out[0,0] = max(1, 1, 5, 6) = 6" in out
    x = torch.tensor([[[[1.0, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]]])
    expected = F.max_pool2d(x, 2, 2)[0, 0].numpy()
    assert np.array_equal(expected, [[6, 8], [3, 4]])
    assert np.array_equal(printed_grid(out, "output (torch.nn.functional.max_pool2d)"), expected)


@pytest.mark.parametrize("mode, torch_fn", [("max", F.max_pool2d), ("avg", F.avg_pool2d)])
def test_pooling_with_padding_and_stride_matches_torch(mode, torch_fn) -> None:
    x = np.arange(32.0).reshape(2, 4, 4)
    result = explain_pool(x.tolist(), size=3, stride=2, padding=1, mode=mode)
    expected = torch_fn(torch.from_numpy(x)[None], 3, 2, 1)[0].numpy()
    assert np.allclose(result.output, expected)
    if mode == "max":
        assert np.array_equal(result.output[0], [[5, 7], [13, 15]])  # the course's example
    assert len(result.steps) == 8


@pytest.mark.parametrize("args, message", [
    (["conv", "-i", "[[1,2,3],[4,5]]"], "ragged"),
    (["conv", "-i", "[[1,2],[3,4]]", "-k", "[[1,2,3],[4,5,6],[7,8,9]]"], "larger than the input"),
    (["conv", "-i", "[[1,2],[3,4]"], "not a JSON list"),
    (["conv", "-i", '[["a", 1]]'], "numeric"),
    (["conv", "-i", "[[[1,2],[3,4]]]", "-k", "[[[1]],[[2]]]"], "channel"),
    (["conv", "-s", "0"], "stride"),
    (["conv", "--channels", "-i", "[[1]]"], "--channels"),
    (["pool", "-i", "[[1,2],[3,4]]", "--size", "3"], "larger than the input"),
    (["pool", "--mode", "median"], "max"),
])
def test_bad_input_is_a_clear_error_exit_2(capsys, args, message) -> None:
    code, out, err = run_cli(["explain", *args], capsys)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_parse_array_shapes() -> None:
    assert parse_array("[[1,2],[3,4]]", "x").shape == (1, 2, 2)
    assert parse_array("[[[1]],[[2]]]", "x").shape == (2, 1, 1)
    with pytest.raises(ShapeError):
        parse_array("[1,2,3]", "x")
    with pytest.raises(ConfigError):
        parse_array("hello", "x")
