# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. The convolution layer (卷积层)
#
# In the lecture's order: cross-correlation (互相关) by hand, output size with padding (填充) and
# stride (步幅) including one that does not fit, several input and output channels (多输入/输出通道),
# the 1x1 convolution (1x1 卷积层), pooling (池化), the receptive field (感受野), and the parameter and
# multiply-add counts of AlexNet. Everything here is arithmetic: the notebook runs in seconds.

# %%
import numpy as np
import torch
import torch.nn.functional as F

import cnnlab
from cnnlab.errors import ShapeError
from cnnlab.inspect import conv_arithmetic, conv_output_size
from cnnlab.scratch.explain import (COURSE_CHANNELS_INPUT, COURSE_CHANNELS_KERNEL, COURSE_CONV_INPUT, COURSE_CONV_KERNEL,
                                    COURSE_POOL_INPUT, explain_conv, explain_pool)

# %% [markdown]
# ## Cross-correlation by hand (二维互相关)
# The course's example: a 3x3 input and a 2x2 kernel. Each output element is the sum of the kernel
# times the window of the input under it, `0x1 + 1x2 + 2x4 + 3x5 = 25`. The highlighted cells are the
# window of each step; the numbers are checked against `torch.nn.functional.conv2d`.

# %%
explain_conv(COURSE_CONV_INPUT, COURSE_CONV_KERNEL)

# %%
x = torch.tensor(COURSE_CONV_INPUT, dtype=torch.float32)[None, None]      # (N, C, H, W)
k = torch.tensor(COURSE_CONV_KERNEL, dtype=torch.float32)[None, None]     # (K, C, F, F)
F.conv2d(x, k)

# %% [markdown]
# ## Output size: padding (填充) and stride (步幅)
# For an `N x N` input, `F x F` filter, stride `S` and padding `P`, the output side is
# `(N + 2P - F)/S + 1`. The lecture's 7x7 input with a 3x3 filter: stride 1 gives 5, stride 2 gives 3,
# padding 1 keeps 7 (`P = (F-1)/2` keeps the size at stride 1).

# %%
for stride, padding in ((1, 0), (2, 0), (1, 1)):
    print(f"N=7, F=3, S={stride}, P={padding}: output {conv_output_size(7, 3, stride, padding)}")

# %% [markdown]
# Stride 3 does not fit (尺寸不匹配): `(7 - 3)/3 + 1 = 2.33`. cnnlab says so and names sizes that fit.

# %%
try:
    conv_output_size(7, 3, stride=3)
except ShapeError as err:
    print(err)

# %% [markdown]
# The lecture's worked layer: input 3x32x32, ten 5x5 filters, stride 1, padding 2. The output is
# 10x32x32 and the layer has `(5*5*3 + 1) * 10 = 760` parameters.

# %%
conv_arithmetic((3, 32, 32), 5, padding=2, filters=10)

# %% [markdown]
# Padding on the course's 4x4 example, with torch's own padding:

# %%
grid = torch.arange(1.0, 17).reshape(4, 4)
F.pad(grid, (1, 1, 1, 1))

# %% [markdown]
# ## Several input channels (多输入通道)
# Each input channel has its own kernel slice; the results of all channels are summed into one output
# channel. The course's two-channel example:

# %%
explain_conv(COURSE_CHANNELS_INPUT, COURSE_CHANNELS_KERNEL)

# %% [markdown]
# ## Several output channels (多输出通道) and the 1x1 convolution (1x1 卷积层)
# Every filter makes one output channel (激活图 activation map), so K filters give K channels. A 1x1
# convolution mixes channels at each pixel and nothing else: it is a fully connected layer applied at
# every position. Six 5x5 filters on a 3x32x32 image, then 1x1 filters reducing 64 channels to 16:

# %%
conv_arithmetic((3, 32, 32), 5, filters=6)

# %%
conv_arithmetic((64, 28, 28), 1, filters=16)

# %%
x = torch.randn(1, 64, 28, 28)
w = torch.randn(16, 64, 1, 1)
as_matrix = torch.einsum("kc,nchw->nkhw", w[:, :, 0, 0], x)     # the same numbers as a matrix product per pixel
torch.allclose(F.conv2d(x, w), as_matrix, atol=1e-4)

# %% [markdown]
# ## Pooling (池化)
# Max pooling (最大池化) with a 2x2 window and stride 2 on the course's 4x4 example: no learnable
# parameters, one output per window.

# %%
explain_pool(COURSE_POOL_INPUT)

# %%
conv_arithmetic((96, 55, 55), 3, stride=2, pool="max")

# %% [markdown]
# ## Receptive field (感受野)
# Each output element of a KxK convolution sees a KxK patch of its input; stacking L such layers grows
# the field by K-1 each time, `1 + L(K-1)`. Three stacked 3x3 convolutions see 7x7, as one 7x7 filter
# does, with fewer parameters (the VGG argument):

# %%
three = conv_arithmetic((64, 56, 56), 3, padding=1, filters=64, layers=3)
one = conv_arithmetic((64, 56, 56), 7, padding=3, filters=64)
print(f"3 x (3x3): receptive field {three.receptive_field}, {three.params:,} parameters")
print(f"1 x (7x7): receptive field {one.receptive_field}, {one.params:,} parameters")

# %% [markdown]
# ## AlexNet's cost (复杂度), layer by layer
# The course's table (Dive into Deep Learning) counts AlexNet's parameters and floating-point work on
# a 224x224 image, with 11x11 stride-4 CONV1 and padding 1:
#
# | | params | FLOPs (table) |
# |---|---|---|
# | conv1 | 35K | 101M |
# | conv2 | 614K | 415M |
# | conv3-5 | 3M | 445M |
# | dense1 | 26M | 26M |
# | dense2 | 16M | 16M |
# | total | 46M | 1G |
#
# The table's "FLOPs" are multiply-adds (MACs). We recompute each row from the formulas. One catch:
# 224 pixels with padding 1 do not fit an 11x11 stride-4 window exactly, `(224 + 2 - 11)/4 + 1 = 54.75`,
# and neither do the 3x3 stride-2 poolings after it. PyTorch (and the book's code) silently rounds down;
# `exact=False` does the same, where the default would stop with the sizes that fit.

# %%
def linear_layer(inputs, outputs):
    return inputs * outputs + outputs        # weights + biases; one MAC per weight

c1 = conv_arithmetic((3, 224, 224), 11, stride=4, padding=1, filters=96, exact=False)  # -> 96x54x54
p1 = conv_arithmetic(c1.output_shape, 3, stride=2, pool="max", exact=False)                         # -> 96x26x26
c2 = conv_arithmetic(p1.output_shape, 5, padding=2, filters=256)                       # -> 256x26x26
p2 = conv_arithmetic(c2.output_shape, 3, stride=2, pool="max", exact=False)                         # -> 256x12x12
c3 = conv_arithmetic(p2.output_shape, 3, padding=1, filters=384)
c4 = conv_arithmetic(c3.output_shape, 3, padding=1, filters=384)
c5 = conv_arithmetic(c4.output_shape, 3, padding=1, filters=256)
p3 = conv_arithmetic(c5.output_shape, 3, stride=2, pool="max", exact=False)                         # -> 256x5x5
flat = int(np.prod(p3.output_shape))
rows = {
    "conv1": (c1.params, c1.macs), "conv2": (c2.params, c2.macs),
    "conv3-5": (c3.params + c4.params + c5.params, c3.macs + c4.macs + c5.macs),
    "dense1": (linear_layer(flat, 4096), linear_layer(flat, 4096) - 4096),
    "dense2": (linear_layer(4096, 4096), 4096 * 4096),
}
for name, (params, macs) in rows.items():
    print(f"{name:8s} params {params / 1e6:7.3f} M   MACs {macs / 1e6:7.1f} M")
print(f"{'total':8s} params {sum(p for p, _ in rows.values()) / 1e6:7.3f} M   MACs {sum(m for _, m in rows.values()) / 1e9:7.3f} G"
      "   (without the 1000-class output layer)")

# %% [markdown]
# The paper's AlexNet (227x227 input, no padding) as a model, counted by running it on the `meta`
# device (shapes only, no arithmetic):

# %%
with torch.device("meta"):
    alexnet = cnnlab.create_model("alexnet_2012", num_classes=1000, in_channels=3, input_size=227)
cnnlab.summary(alexnet, (3, 227, 227))
