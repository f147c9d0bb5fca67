"""Exponential moving average of the weights (Polyak averaging), via torch.optim.swa_utils.

The EMA copy is what validation and the final test evaluation see when ``ema_decay > 0``; its
state (``module.*`` keys plus ``n_averaged``) is stored in every checkpoint under "ema".
"""
from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def make_ema(model: nn.Module, decay: float) -> AveragedModel | None:
    """An EMA of ``model`` updated by ``ema.update_parameters(model)`` after each step; None when decay is 0.

    ``decay`` is per optimizer step: the EMA remembers roughly the last 1 / (1 - decay) steps.
    BatchNorm running statistics are averaged too (``use_buffers``), so the EMA model needs no
    extra pass over the data before evaluation.
    """
    if decay <= 0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
