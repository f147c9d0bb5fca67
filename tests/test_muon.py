"""The muon optimizer (Muon for conv filters, SGD for the rest) and the optimizers' eager wrappers."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from cnnlab.training.config import TrainConfig
from cnnlab.training.muon import MuonSGD, orthogonalize
from cnnlab.training.optim import build_optimizer, build_scheduler


def test_orthogonalize_gives_about_equal_singular_values():
    torch.manual_seed(0)
    update = torch.randn(16, 72) * torch.logspace(-2, 1, 72)   # badly conditioned, as a gradient is
    before, after = torch.linalg.svdvals(update), torch.linalg.svdvals(orthogonalize(update))
    assert before.max() / before.min() > 5
    assert after.min() > 0.6 and after.max() < 1.2                # Newton-Schulz's band around 1


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))


def test_muon_steps_the_filters_by_orthogonal_updates_and_the_rest_by_sgd():
    model = _net()
    opt = build_optimizer(model, TrainConfig(optimizer="muon", lr=0.1, muon_lr=0.2, muon_momentum=0.0,
                                             weight_decay=0.0))
    assert [g["muon"] for g in opt.param_groups] == [False, False, True]
    assert opt.param_groups[2]["params"] == [model[0].weight] and opt.param_groups[2]["lr"] == 0.2
    model[0].weight.data.mul_(3.0)                                # the filters' scale is reset before the step
    head = model[4].weight.detach().clone()
    model(torch.randn(8, 1, 6, 6)).square().mean().backward()
    sgd_step = -0.1 * (model[4].weight.grad * 2)                  # Nesterov with a fresh buffer: g + 0.9 g
    opt.step()
    filters = model[0].weight.detach()
    assert filters.flatten(1).norm() == pytest.approx(2.0 + 0.2 * 2.0, rel=0.3)  # sqrt(4) rescaled, then one step
    torch.testing.assert_close(model[4].weight.detach() - head, sgd_step * 1.9 / 2, rtol=1e-5, atol=1e-7)


def test_muon_refuses_non_filter_parameters_in_a_muon_group():
    with pytest.raises(ValueError, match="4-D"):
        MuonSGD([{"params": [nn.Parameter(torch.ones(3, 3))], "muon": True}], lr=0.1)


def test_muon_follows_the_schedule_and_resumes_exactly():
    torch.manual_seed(1)
    batches = [torch.randn(8, 1, 6, 6) for _ in range(4)]

    def run(steps: range, state=None):
        model = _net()
        cfg = TrainConfig(optimizer="muon", lr=0.1, epochs=1)
        opt = build_optimizer(model, cfg)
        sched = build_scheduler(opt, cfg, 6)
        if state is not None:
            model.load_state_dict(state[0]), opt.load_state_dict(state[1]), sched.load_state_dict(state[2])
        for step in steps:
            assert opt.param_groups[-1]["lr"] == pytest.approx(2.4 * opt.param_groups[0]["lr"])  # one schedule
            opt.zero_grad()
            model(batches[step]).square().mean().backward()
            opt.step()
            sched.step()
        return model, opt, sched

    whole = run(range(4))[0]
    model, opt, sched = run(range(2))
    resumed = run(range(2, 4), (model.state_dict(), opt.state_dict(), sched.state_dict()))[0]
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_building_an_optimizer_does_not_import_torch_dynamo():
    # torch's compile wrappers import torch._dynamo (~2 s on a small CPU) for eager training too
    code = ("import sys, torch; from torch import nn; from cnnlab.training.optim import OPTIMIZERS, build_optimizer;"
            "from cnnlab.training.config import TrainConfig\n"
            "for name in OPTIMIZERS:\n"
            "    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2))\n"
            "    o = build_optimizer(m, TrainConfig(optimizer=name)); m(torch.ones(1, 1, 3, 3)).sum().backward()\n"
            "    o.step(); o.zero_grad(); o.load_state_dict(o.state_dict())\n"
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
