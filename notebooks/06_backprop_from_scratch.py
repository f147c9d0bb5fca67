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
# # 6. Backpropagation from scratch (反向传播)
#
# The chain rule on a computational graph (计算图), one number at a time, then the layers of a CNN
# written in NumPy with their backward passes, each checked against a numerical gradient and against
# torch, and finally a small ConvNet trained with nothing but them (`cnnlab.scratch`).

# %%
import os

import numpy as np
import torch
import torch.nn.functional as F

from cnnlab import scratch

QUICK = os.environ.get("CNNLAB_QUICK") == "1"
DATA, SIZE = ("digits", 28) if QUICK else ("fashion-mnist", None)   # quick: a small offline dataset
rng = np.random.default_rng(0)

# %% [markdown]
# ## The chain rule on a graph of scalars
# `f = (x*w + b)` through a sigmoid: `backward()` walks the graph from the output and multiplies the local
# derivatives. torch's autograd gives the same gradients.

# %%
x, w, b = scratch.Value(2.0), scratch.Value(-3.0), scratch.Value(1.0)
f = (x * w + b).sigmoid()
f.backward()
print(f"f = {f.data:.6f}  df/dx = {x.grad:.6f}  df/dw = {w.grad:.6f}  df/db = {b.grad:.6f}")

xt, wt, bt = (torch.tensor(v, requires_grad=True) for v in (2.0, -3.0, 1.0))
ft = torch.sigmoid(xt * wt + bt)
ft.backward()
print(f"torch: df/dx = {xt.grad:.6f}  df/dw = {wt.grad:.6f}  df/db = {bt.grad:.6f}")

# %% [markdown]
# ## Gradient check of a layer
# The analytic gradient of each layer against a centred difference `(f(x+h) - f(x-h)) / 2h`. A relative
# error around 1e-8 or below means the backward pass is right.

# %%
def check(name, forward, backward, x, *params):
    """Relative error of the analytic input gradient of sum(out * dout) against the numerical one."""
    out, cache = forward(x, *params)
    dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    dx = grads[0] if isinstance(grads, tuple) else grads
    numeric = scratch.numerical_gradient_array(lambda v: forward(v, *params)[0], x, dout)
    print(f"{name:22s} relative error {scratch.rel_error(dx, numeric):.2e}")


x = rng.standard_normal((2, 3, 6, 6))
w = rng.standard_normal((4, 3, 3, 3))
b = rng.standard_normal(4)
check("convolution (naive)", lambda v, w, b: scratch.conv2d_naive_forward(v, w, b, stride=1, padding=1),
      scratch.conv2d_naive_backward, x, w, b)
check("max pooling 2x2", lambda v: scratch.max_pool2d_forward(v, 2), scratch.max_pool2d_backward, x)
check("ReLU", scratch.relu_forward, scratch.relu_backward, x)
check("linear", scratch.linear_forward, scratch.linear_backward, rng.standard_normal((5, 7)),
      rng.standard_normal((3, 7)), rng.standard_normal(3))   # w (outputs, inputs)

# %% [markdown]
# ## The same numbers as torch
# Forward and input gradient of the NumPy convolution against `torch.nn.functional.conv2d`:

# %%
out, cache = scratch.conv2d_naive_forward(x, w, b, stride=1, padding=1)
dout = rng.standard_normal(out.shape)
dx = scratch.conv2d_naive_backward(dout, cache)[0]
xt = torch.tensor(x, requires_grad=True)
yt = F.conv2d(xt, torch.tensor(w), torch.tensor(b), padding=1)
yt.backward(torch.tensor(dout))
print("forward max difference", np.abs(out - yt.detach().numpy()).max())
print("backward max difference", np.abs(dx - xt.grad.numpy()).max())

# %% [markdown]
# ## A ConvNet trained with NumPy only
# conv 3x3 -> ReLU -> 2x2 max pool -> affine -> ReLU -> affine, plain SGD with momentum: every step of
# the forward pass, the loss, the backward pass and the update is in `cnnlab.scratch`.

# %%
import cnnlab

data = cnnlab.load_dataset(DATA, image_size=SIZE)
n = 300 if QUICK else 5000
images = data.train.images[:n].numpy().astype(np.float64) / 255.0     # (n, 1, H, W) on 0..1
labels = data.train.labels[:n].numpy()
test_images = data.test.images[:1000].numpy().astype(np.float64) / 255.0
test_labels = data.test.labels[:1000].numpy()
mean, std = images.mean(), images.std()
net = scratch.scratch_convnet(1, images.shape[-1], 10, filters=8, hidden=64)
history = scratch.fit(net, (images - mean) / std, labels, epochs=1 if QUICK else 2, batch_size=50, lr=0.05)
for stats in history:
    print(stats)
print(f"test accuracy on {len(test_labels):,} images: {scratch.accuracy(net, (test_images - mean) / std, test_labels):.2%}")
