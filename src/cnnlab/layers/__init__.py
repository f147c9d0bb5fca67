"""Building blocks shared by the model families, one concept a file."""
from cnnlab.layers.classifier import mlp_classifier
from cnnlab.layers.conv_norm_act import ConvNormAct
from cnnlab.layers.create import ACT_LAYERS, NORM_LAYERS, get_act_layer, get_norm_layer, group_norm, make_act

__all__ = ["ACT_LAYERS", "NORM_LAYERS", "ConvNormAct", "get_act_layer", "get_norm_layer", "group_norm",
           "make_act", "mlp_classifier"]
