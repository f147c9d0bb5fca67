"""The benchmark harness (`cnnlab.bench`, `cnnlab bench`): figures are positive and agree with each other.

No timing thresholds: only relations that hold whatever the machine's speed.
"""
from __future__ import annotations

import json
import statistics

import pytest
import torch
from torch import nn

from cnnlab.bench import bench_train, format_result, matmul_gflops, step_flops
from cnnlab.bench import peak as peak_module
from cnnlab.bench import throughput
from cnnlab.data.locate import SYSTEM_ROOTS
from cnnlab.errors import ConfigError
from cnnlab.hardware import PROBE_SIZE
from cnnlab.inspect import summary
from cnnlab.models import create_model
from cnnlab.numerics import EmulatedPrecisionWarning

TINY = dict(batch_size=8, steps=2, warmup=1, rounds=2, peak_size=128, peak_seconds=0.01)


@pytest.fixture(scope="module")
def result():
    return bench_train("fastnet_small", input_shape=(1, 16, 16), **TINY)


def test_forward_flops_equal_twice_the_summary_macs(result):
    model = create_model("fastnet_small", num_classes=10, in_channels=1, input_size=(16, 16))
    totals = summary(model, (1, 16, 16)).totals
    assert result.flops.forward == totals.flops == 2 * totals.macs
    assert result.params == totals.params


def test_step_flops_of_a_hand_counted_net():
    # conv 1->4, 3x3, 8x8 output: 8*8*4*9 = 2304 MACs; linear 256->10: 2560 MACs
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(256, 10))
    flops = step_flops(net, (1, 8, 8), batch_size=3)
    assert flops.forward == 2 * (2304 + 2560)
    # backward: conv weight gradient only (the image needs none), linear weight and input gradients
    assert flops.backward == 2 * (2304 + 2 * 2560)
    assert flops.total == flops.forward + flops.backward


def test_throughput_is_images_over_seconds(result):
    for timing in (result.cnnlab, result.textbook):
        assert timing.images == [TINY["batch_size"] * TINY["steps"]] * TINY["rounds"]
        assert all(s > 0 for s in timing.seconds)
        assert timing.images_per_s == pytest.approx(statistics.median(
            n / s for n, s in zip(timing.images, timing.seconds)))


def test_derived_figures_are_consistent(result):
    assert set(result.peak_gflops) == {"fp32", "bf16"} and min(result.peak_gflops.values()) > 0
    assert result.achieved_gflops == pytest.approx(result.flops.total * result.cnnlab.images_per_s / 1e9)
    assert result.peak_fraction == pytest.approx(result.achieved_gflops / result.peak_gflops["fp32"])
    assert result.speedup == pytest.approx(result.cnnlab.images_per_s / result.textbook.images_per_s)
    d = result.to_dict()
    assert d["cnnlab"]["images_per_s"] == result.cnnlab.images_per_s and d["machine"]
    text = format_result(result)
    assert "images/s" in text and "GFLOP/s" in text and f"{result.speedup:.2f}x" in text


def test_matmul_gflops_is_positive():
    assert matmul_gflops(torch.float32, n=64, seconds=0.01) > 0


def test_bf16_channels_last_step_and_no_textbook(monkeypatch):
    monkeypatch.setenv("CNNLAB_CPU_BF16", "1")          # as on a CPU with native bf16
    r = bench_train("fastnet_small", input_shape=(3, 12, 12), precision="bf16", channels_last=True,
                    textbook=False, **TINY)
    assert r.textbook is None and r.speedup is None and r.emulated == []
    assert (r.precision, r.channels_last) == ("bf16", True)
    assert r.peak_fraction == pytest.approx(r.achieved_gflops / r.peak_gflops["bf16"])
    assert r.cnnlab.images_per_s > 0


def test_an_emulated_bf16_gets_a_small_probe_and_says_so(monkeypatch):
    monkeypatch.setenv("CNNLAB_CPU_BF16", "0")          # as on an AVX2-only CPU
    sizes = []
    real = peak_module.matmul_gflops
    monkeypatch.setattr(peak_module, "matmul_gflops", lambda dtype, n, **kw: sizes.append((dtype, n)) or real(dtype, n=n, **kw))
    with pytest.warns(EmulatedPrecisionWarning):
        r = bench_train("fastnet_small", input_shape=(1, 8, 8), precision="bf16", textbook=False, **TINY)
    assert r.emulated == ["bf16"] and (torch.bfloat16, PROBE_SIZE) in sizes and (torch.float32, TINY["peak_size"]) in sizes
    assert "emulated" in format_result(r)


def test_auto_picks_fp32_where_bf16_is_emulated_and_every_stage_is_reported(monkeypatch):
    monkeypatch.setenv("CNNLAB_CPU_BF16", "0")
    stages = []
    r = bench_train("fastnet_small", input_shape=(1, 8, 8), textbook=False, progress=stages.append, **TINY)
    assert r.precision == "fp32" and "no native bf16" in r.numerics
    assert any(s.startswith("measuring the matmul peak") for s in stages)
    assert sum(s.startswith("round ") for s in stages) == TINY["rounds"]


def test_a_spent_budget_leaves_one_warm_up_step_and_one_timed_step_of_each_loop(monkeypatch):
    calls = {"cnnlab": 0, "textbook": 0}

    def counted(name, make):
        def build(*args):
            step = make(*args)
            return lambda x, y: calls.__setitem__(name, calls[name] + 1) or step(x, y)
        return build

    monkeypatch.setattr(throughput, "_cnnlab_step", counted("cnnlab", throughput._cnnlab_step))
    monkeypatch.setattr(throughput, "_textbook_step", counted("textbook", throughput._textbook_step))
    r = bench_train("fastnet_small", input_shape=(1, 8, 8), **{**TINY, "steps": 1000, "warmup": 5, "rounds": 3},
                    max_seconds=1e-6)
    assert (r.rounds, r.steps) == (1, 1) and r.cnnlab.images == r.textbook.images == [TINY["batch_size"]]
    assert calls == {"cnnlab": 2, "textbook": 2}     # one warm-up step and one timed step each
    assert "; 1 round x 1 step\n" in format_result(r)


@pytest.mark.parametrize("rounds, steps, step_seconds, left, fitted", [
    (3, 20, 0.1, 100.0, (3, 20)),   # everything fits
    (3, 20, 0.5, 15.0, (3, 10)),    # fewer steps per round first
    (3, 20, 1.0, 2.5, (2, 1)),      # then fewer rounds
    (3, 20, 1.0, 0.5, (1, 1)),      # and at least one step of one round
    (3, 20, 1.0, -4.0, (1, 1)),     # also when the budget is already spent
])
def test_the_rounds_fit_the_time_left(rounds, steps, step_seconds, left, fitted):
    assert throughput._fit_rounds(rounds, steps, step_seconds, left) == fitted


def test_dataset_images_feed_both_loops():
    r = bench_train("fastnet_small", data="digits", **TINY)  # offline: scikit-learn's 8x8 digits
    assert r.input_shape == (1, 8, 8) and r.data == "digits"
    assert r.textbook.images_per_s > 0


@pytest.mark.skipif(not any((p and __import__("pathlib").Path(p, "fashion-mnist").is_dir()) for p in SYSTEM_ROOTS),
                    reason="Fashion-MNIST files are not installed")
def test_textbook_loop_reads_torchvision_fashion_mnist():
    r = bench_train("fastnet_small", data="fashion-mnist", batch_size=4, steps=1, warmup=0, rounds=1,
                    peak_size=128, peak_seconds=0.01)
    assert r.input_shape == (1, 28, 28) and r.textbook.images == [4]


def test_bad_arguments_raise_config_errors():
    with pytest.raises(ConfigError, match="does not match"):
        bench_train("fastnet_small", data="digits", input_shape=(1, 28, 28), **TINY)
    with pytest.raises(ConfigError, match="precision"):
        bench_train("fastnet_small", input_shape=(1, 8, 8), precision="fp8", **TINY)
    with pytest.raises(ConfigError, match="input size"):
        bench_train("fastnet_small", **TINY)


def test_cli_json_and_errors(capsys):
    from cnnlab.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["bench", "fastnet_small", "--input", "1x12x12", "--batch-size", "4", "--steps", "1", "--rounds", "1",
              "--warmup", "0", "--no-textbook", "--peak-size", "128", "--json"])
    assert exit_.value.code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["input_shape"] == [1, 12, 12] and data["cnnlab"]["images"] == [4] and data["textbook"] is None
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "fastnet_small", "--input", "12x12"])
    assert exit_.value.code == 2 and "CxHxW" in capsys.readouterr().err
