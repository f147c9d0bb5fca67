"""`FlopCount` against PyTorch's own `FlopCounterMode` (the reference), and what it spares a run: torch._dynamo."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnlab.inspect.flop_count import FlopCount
from cnnlab.models import create_model


def _both(step) -> tuple[int, int]:
    """(FlopCount's total, FlopCounterMode's total) of ``step()``."""
    with FlopCount() as ours:
        step()
    with FlopCounterMode(display=False) as reference:
        step()
    return ours.total, reference.get_total_flops()


# every kind of layer the registry builds: whitening stem, dirac convs, depthwise and grouped convs,
# channel shuffles, squeeze-excitation, dense concats, inception branches, linear heads
@pytest.mark.parametrize("name", ["airnet", "fastnet_small", "resnet18_small", "se_resnet18", "mobilenet_v2",
                                  "shufflenet_v2_x0_5", "densenet_small", "googlenet_small", "lenet5", "mlp"])
def test_forward_and_backward_totals_equal_flop_counter_modes(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_channels=1, input_size=28)
    x = torch.randn(2, 1, 28, 28)
    ours, reference = _both(lambda: model(x).sum().backward())
    assert ours == reference > 0
    with torch.no_grad():
        ours, reference = _both(lambda: model.eval()(x))
    assert ours == reference > 0


def test_attention_matrix_products_and_a_hand_count():
    attention = nn.MultiheadAttention(16, 2, batch_first=True)
    x = torch.randn(3, 5, 16)
    ours, reference = _both(lambda: attention(x, x, x, need_weights=False)[0].sum().backward())
    assert ours == reference > 0
    with FlopCount() as count:
        nn.Linear(4, 6, bias=False)(torch.ones(7, 4))
    assert count.total == 2 * 7 * 4 * 6  # 2 FLOPs per multiply-add


def test_counting_works_on_the_meta_device_and_never_imports_torch_dynamo():
    # torch's wrapper of a dispatch mode for torch.compile imports torch._dynamo (1.5-2 s) on its first call
    code = ("import sys, torch; from cnnlab.inspect.flop_count import FlopCount\n"
            "conv = torch.nn.Conv2d(3, 8, 3).to('meta')\n"
            "with FlopCount() as c: conv(torch.zeros(2, 3, 10, 10, device='meta')).sum().backward()\n"
            "print(c.total, 'torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    forward = 2 * 2 * 8 * 8 * 8 * 3 * 3 * 3           # 2 x images x out channels x 8x8 positions x 3x3x3 weights
    assert out == [str(2 * forward), "False"]          # backward: the weight gradient only (the input needs none)
