"""Building blocks shared by the model families, one concept a file."""
from cnnlab.layers.classifier import mlp_classifier
from cnnlab.layers.conv import conv_layer, conv_nd, conv_transpose_layer, dilated_conv, grouped_conv, transposed_conv
from cnnlab.layers.deformable import DeformableConv2d
from cnnlab.layers.separable import DepthwiseSeparableConv, SpatiallySeparableConv
from cnnlab.layers.squeeze_excite import SqueezeExcite
from cnnlab.layers.dims import for_dims
from cnnlab.layers.conv_norm_act import ConvNormAct
from cnnlab.layers.gelu import GELU
from cnnlab.layers.create import ACT_LAYERS, NORM_LAYERS, get_act_layer, get_norm_layer, group_norm, make_act

__all__ = ["ACT_LAYERS", "NORM_LAYERS", "ConvNormAct", "GELU", "get_act_layer", "get_norm_layer", "group_norm",
           "make_act", "mlp_classifier",
           "DeformableConv2d", "DepthwiseSeparableConv", "SqueezeExcite", "for_dims", "SpatiallySeparableConv",
           "conv_layer", "conv_nd",
           "conv_transpose_layer", "dilated_conv", "grouped_conv", "transposed_conv"]
