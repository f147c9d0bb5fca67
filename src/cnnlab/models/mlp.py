"""The 2-layer multilayer perceptron: flatten -> Linear -> ReLU -> Dropout -> Linear.

The course's step from the linear classifier to neural networks (cs231n's "2-layer net").
The hidden layer's width is ``hidden_size``. Like the linear classifier it has no stem and takes
exactly the ``input_size`` it was built for.
"""
from __future__ import annotations

from typing import Sequence

from cnnlab.layers import get_act_layer, mlp_classifier
from cnnlab.layers.create import LayerFactory
from cnnlab.models.linear import PixelClassifier
from cnnlab.models._registry import TrainDefaults, register_model

TRAIN_DEFAULTS = TrainDefaults(epochs=10, batch_size=128, min_steps=300)


class MLP(PixelClassifier):
    """flatten (C*H*W) -> hidden_size -> num_classes; ``forward_head(pre_logits=True)`` gives the hidden layer."""

    classifier_name = "classifier"

    def __init__(
        self,
        *,
        arch: str = "mlp",
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int | Sequence[int] = 28,
        hidden_size: int = 256,
        drop_rate: float = 0.0,
        act_layer: str | LayerFactory = "relu",
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        self.classifier = mlp_classifier(self.num_features, (hidden_size,), num_classes, drop_rate=drop_rate,
                                         act_layer=get_act_layer(act_layer))


@register_model
def mlp(**kwargs) -> MLP:
    """2-layer MLP (one hidden layer of ``hidden_size`` units, ReLU)."""
    return MLP(**kwargs)
