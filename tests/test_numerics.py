"""Precision and layout chosen for the CPU found (`cnnlab.hardware`, `cnnlab.numerics`).

Both branches of the bf16 detection are driven by CNNLAB_CPU_BF16 so they run on any CPU; the
real detection (flags, then a timed probe) is checked for consistency with the CPU's own flags.
"""
from __future__ import annotations

import json
import warnings

import pytest
import torch
from torch import nn

from cnnlab import hardware, numerics
from cnnlab.errors import ConfigError
from cnnlab.numerics import EmulatedPrecisionWarning, Numerics, choose_numerics, for_evaluation, resolve_precision
from cnnlab.training import train

TINY = dict(data="digits", batch_size=64, threads=1, report=False, quiet=True)


def small_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))


@pytest.fixture
def bf16(monkeypatch):
    """Set the bf16 verdict: bf16(True) = native, bf16(False) = emulated."""
    return lambda native: monkeypatch.setenv(hardware.BF16_ENV, "1" if native else "0")


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "cnnlab" / numerics.LAYOUT_CACHE_FILE


def test_the_override_sets_either_verdict(bf16):
    bf16(True)
    assert hardware.cpu_info().native_bf16 and hardware.BF16_ENV in hardware.cpu_info().decided_by
    bf16(False)
    assert not hardware.cpu_info().native_bf16


@pytest.mark.parametrize("value", ["maybe", "2", "on"])
def test_an_override_that_is_no_yes_or_no_is_an_error_not_ignored(monkeypatch, value):
    monkeypatch.setenv(hardware.BF16_ENV, value)
    with pytest.raises(ConfigError, match=f"CNNLAB_CPU_BF16='{value}' is neither 0 nor 1"):
        hardware.cpu_info()


def test_an_empty_override_detects(monkeypatch):
    monkeypatch.setenv(hardware.BF16_ENV, " ")
    assert hardware.cpu_info().decided_by == hardware._detect(None).decided_by


def test_the_real_detection_agrees_with_the_cpu_flags(monkeypatch):
    monkeypatch.delenv(hardware.BF16_ENV, raising=False)
    cpu = hardware._detect(None)
    assert cpu.model and cpu.capability
    if not any(flag in cpu.flags for flag in hardware.NATIVE_BF16_FLAGS):
        assert not cpu.native_bf16 and cpu.bf16_slowdown is None     # no flags: no probe, never bf16
    else:
        assert cpu.bf16_slowdown > 0 and cpu.native_bf16 == (cpu.bf16_slowdown <= hardware.NATIVE_MAX_SLOWDOWN)
    assert cpu.describe().startswith(cpu.model)


def _scripted_probe(monkeypatch, fp32: list[float], bf16: list[float]) -> None:
    """The probe's best times per round, as given (a round past the script raises StopIteration)."""
    times = {torch.float32: iter(fp32), torch.bfloat16: iter(bf16)}
    monkeypatch.setattr(hardware, "_best_seconds", lambda dtype, n: next(times[dtype]))
    monkeypatch.setattr(hardware.time, "sleep", lambda seconds: None)


@pytest.mark.parametrize("fp32, bf16, slowdown", [
    ([1.0], [0.4], 0.4),                        # native at once: one round
    ([1.0], [150.0], 150.0),                    # emulated beyond doubt: one round
    ([1.0, 1.0], [1.94, 0.5], 0.5),             # the host took a slice of the bf16 product: measured again
    ([8.0, 1.0], [100.0, 100.0], 100.0),        # ... or of the fp32 one, where bf16 is emulated
    ([1.0] * hardware.PROBE_ROUNDS, [2.0] * hardware.PROBE_ROUNDS, 2.0),  # really 2x slower: every round says so
])
def test_the_bf16_probe_keeps_each_dtypes_best_time_until_the_ratio_is_clear(monkeypatch, fp32, bf16, slowdown):
    _scripted_probe(monkeypatch, fp32, bf16)
    assert hardware.measure_bf16_slowdown() == slowdown


def test_auto_is_bf16_only_where_it_is_native(bf16):
    bf16(True)
    assert resolve_precision("auto", "cpu")[0] == "bf16"
    bf16(False)
    chosen, why = resolve_precision("auto", "cpu")
    assert chosen == "fp32" and "no native bf16 by CNNLAB_CPU_BF16=0" in why   # the line names the override


def test_explicit_bf16_on_an_emulating_cpu_runs_with_one_warning_that_says_how_slow(bf16, monkeypatch):
    bf16(False)
    monkeypatch.setattr(hardware, "measure_bf16_slowdown", lambda n=hardware.PROBE_SIZE: 212.0)
    with pytest.warns(EmulatedPrecisionWarning) as caught:
        assert resolve_precision("bf16", "cpu")[0] == "bf16"
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "emulated" in message and "212x slower" in message and "--precision auto" in message
    bf16(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_precision("bf16", "cpu")                 # native: no warning


def test_bf16_forced_emulated_on_a_native_cpu_is_not_called_1x_slower(bf16, monkeypatch):
    bf16(False)
    monkeypatch.setattr(hardware, "measure_bf16_slowdown", lambda n=hardware.PROBE_SIZE: 0.6)
    with pytest.warns(EmulatedPrecisionWarning, match="measured about as fast as fp32 here"):
        resolve_precision("bf16", "cpu")


def test_bad_precisions_are_config_errors():
    with pytest.raises(ConfigError, match="unknown precision 'bf32'"):
        resolve_precision("bf32", "cpu")
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ConfigError, match="channels_last"):
        choose_numerics("fp32", "yes", "cpu")


def test_auto_layout_keeps_the_faster_one_and_probes_once(private_cache, monkeypatch):
    calls = []

    def fake_times(model, batch_shape, precision, device, loss_fn=None):
        calls.append(batch_shape)
        return {False: 2e-4, True: 1e-4}                  # channels-last twice as fast

    monkeypatch.setattr(numerics, "time_layouts", fake_times)
    first = choose_numerics("fp32", "auto", "cpu", model=small_net(), batch_shape=(32, 1, 8, 8))
    again = choose_numerics("fp32", "auto", "cpu", model=small_net(), batch_shape=(32, 1, 8, 8))
    assert first.channels_last and again.channels_last and len(calls) == 1
    assert "2.00x faster" in first.reason and "measured before" in again.reason
    other_batch = choose_numerics("fp32", "auto", "cpu", model=small_net(), batch_shape=(16, 1, 8, 8))
    assert other_batch.channels_last and len(calls) == 2  # the batch shape is part of the key
    assert len(json.loads(private_cache.read_text())) == 2


def test_the_first_decision_stored_wins(private_cache, monkeypatch):
    monkeypatch.setattr(numerics, "time_layouts", lambda *a, **k: {False: 1e-4, True: 2e-4})
    key = numerics._cache_key(small_net(), (32, 1, 8, 8), "fp32")
    private_cache.parent.mkdir(parents=True)
    monkeypatch.setattr(numerics, "_read_cache", lambda: {})    # this process saw no entry when it looked ...
    # ... but another process stores channels-last before this one writes
    private_cache.write_text(json.dumps({key: {"channels_last": True, "speedup": 1.3}}))
    monkeypatch.setattr(numerics, "_read_cache", lambda: json.loads(private_cache.read_text()))
    assert numerics._add_to_cache(key, {"channels_last": False, "speedup": 2.0})["channels_last"] is True


def test_time_layouts_measures_both_and_leaves_the_model_and_random_stream_alone():
    model = small_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(3)
    state = torch.get_rng_state()
    seconds = numerics.time_layouts(model, (16, 1, 8, 8), "fp32", torch.device("cpu"))
    assert set(seconds) == {False, True} and min(seconds.values()) > 0
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_non_image_batches_and_explicit_layouts_need_no_probe(monkeypatch):
    monkeypatch.setattr(numerics, "time_layouts", lambda *a, **k: pytest.fail("no probe expected"))
    assert choose_numerics("fp32", "auto", "cpu", model=small_net(), batch_shape=(32, 64)).channels_last is False
    assert choose_numerics("fp32", True, "cpu", model=small_net(), batch_shape=(32, 1, 8, 8)).channels_last is True


def test_a_run_prints_and_records_its_choice_the_cpu_and_its_flops(tmp_path, bf16, capsys, private_cache):
    bf16(False)
    result = train("fastnet_small", epochs=1, run_dir=str(tmp_path / "r"), **TINY)
    out = capsys.readouterr().out
    assert out.startswith("numerics: CPU: ") and "-> fp32" in out.splitlines()[0]
    results = json.loads((result.run_dir / "results.json").read_text())
    assert results["precision"] == "fp32" and results["numerics"] == out.splitlines()[0][len("numerics: "):]
    assert results["cpu"]["native_bf16"] is False and results["cpu"]["model"] == hardware.cpu_model()
    env = json.loads((result.run_dir / "env.json").read_text())
    assert env["cpu"]["native_bf16"] is False and env["cpu"]["flags"] == list(hardware.cpu_flags())
    saved = torch.load(result.run_dir / "checkpoints" / "last.pt", weights_only=True)["numerics"]
    assert saved["precision"] == "fp32" and saved["channels_last"] == results["channels_last"]
    from cnnlab.inspect import step_flops
    from cnnlab.models import create_model

    net = create_model("fastnet_small", num_classes=10, in_channels=1, input_size=(8, 8))
    per_image = step_flops(net, (1, 8, 8)).total
    assert results["train_flops"] == pytest.approx(per_image * results["steps"] * 64)


def test_auto_on_a_native_bf16_cpu_trains_in_bf16(tmp_path, bf16, private_cache):
    bf16(True)
    result = train("fastnet_small", epochs=1, run_dir=str(tmp_path / "r"), **TINY)
    assert result.results["precision"] == "bf16"


def test_a_resumed_run_keeps_its_saved_choice(tmp_path, monkeypatch, private_cache):
    """Resuming must not decide again: another layout or precision would break bitwise resume."""
    run = train("fastnet_small", epochs=1, channels_last=True, run_dir=str(tmp_path / "r"), **TINY).run_dir
    from cnnlab.training import setup

    monkeypatch.setattr(setup, "choose_numerics", lambda *a, **k: pytest.fail("resume decided again"))
    result = train(resume=run)                          # a finished run: nothing left but the final evaluation
    assert result.results["channels_last"] is True and result.results["precision"] == "fp32"


def test_evaluation_follows_the_run_where_this_device_allows(bf16):
    bf16(True)
    assert for_evaluation({"precision": "bf16", "channels_last": True}, {}, "cpu") == \
        Numerics("bf16", True, "as the run trained")
    assert for_evaluation(None, {"precision": "fp16", "channels_last": False}, "cpu").precision == "fp32"
    bf16(False)
    with pytest.warns(EmulatedPrecisionWarning, match="evaluating in fp32"):
        assert for_evaluation({"precision": "bf16", "channels_last": False}, {}, "cpu").precision == "fp32"
    # a config-only run (no saved choice) with precision auto decides as a new run would
    assert for_evaluation(None, {"precision": "auto", "channels_last": "auto"}, "cpu").precision == "fp32"
