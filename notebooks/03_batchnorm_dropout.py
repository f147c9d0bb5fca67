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
# # 3. Batch normalization (批标准化) and dropout (丢弃法): training versus evaluation
#
# Both layers behave differently while training and at inference (推理), which is why a model has
# `model.train()` and `model.eval()`. This notebook shows the difference with torch's layers, checks
# cnnlab's NumPy versions against them, and trains the same small network with and without them.

# %%
import os

import numpy as np
import torch
from torch import nn

import cnnlab
from cnnlab import scratch

QUICK = os.environ.get("CNNLAB_QUICK") == "1"
DATA, SIZE = ("digits", 28) if QUICK else ("fashion-mnist", None)   # quick: a small offline dataset
_ = torch.manual_seed(0)

# %% [markdown]
# ## Batch normalization (批标准化)
# For a convolution layer, one mean and one variance per channel (每个通道一次批量归一化), over the batch
# and all pixels: `y = gamma * (x - mean) / sqrt(var + eps) + beta`. In training the statistics come
# from the current mini-batch, and a running average is kept; at inference the running averages are
# used, so one image's output no longer depends on the others in its batch.

# %%
bn = nn.BatchNorm2d(3)
x = torch.randn(8, 3, 5, 5) * 4 + 10                 # (N, C, H, W): mean ~10, std ~4 per channel
bn.train()
y = bn(x)
print("training: per-channel mean", y.mean((0, 2, 3)).detach().numpy().round(4),
      "std", y.std((0, 2, 3), unbiased=False).detach().numpy().round(4))
print("running mean after one batch (momentum 0.1):", bn.running_mean.numpy().round(3))

# %%
by_hand = (x - x.mean((0, 2, 3), keepdim=True)) / torch.sqrt(x.var((0, 2, 3), unbiased=False, keepdim=True) + bn.eps)
torch.allclose(y, by_hand, atol=1e-5)

# %%
bn.eval()
one_image = bn(x[:1])
alone_in_training = nn.BatchNorm2d(3).train()(x[:2])[:1]
print("eval: uses the running statistics ->", torch.allclose(
    one_image, (x[:1] - bn.running_mean[None, :, None, None]) / torch.sqrt(bn.running_var[None, :, None, None] + bn.eps),
    atol=1e-5))
print("train: the same image normalized with another batch gives other numbers ->",
      not torch.allclose(alone_in_training, y[:1], atol=1e-3))

# %% [markdown]
# cnnlab's NumPy batch norm (`cnnlab.scratch`) gives torch's numbers:

# %%
out, _ = scratch.spatial_batchnorm_forward(x.numpy().astype(np.float64), np.ones(3), np.zeros(3), eps=bn.eps)
np.abs(out - by_hand.numpy()).max()

# %% [markdown]
# ## Dropout (丢弃法)
# In training, each unit is dropped with probability `p` and the kept ones are divided by `1 - p`, so the
# expected value stays the same: `h' = 0` with probability `p`, else `h / (1 - p)`. At inference every
# unit is kept and nothing is scaled (正则化仅用于模型训练).

# %%
drop = nn.Dropout(p=0.5)
h = torch.ones(2, 10)
drop.train()
print("train:", drop(h))
drop.eval()
print("eval: ", drop(h))
drop.train()
print("mean over many draws (expected 1):", drop(torch.ones(1000, 1000)).mean().item())

# %% [markdown]
# ## The same network with and without them
# LeNet's layers with ReLU, once plain, once with batch norm after each convolution and dropout in the
# classifier. About one epoch on Fashion-MNIST; batch norm usually lets the same learning rate train faster.

# %%
def small_cnn(norm: bool, drop_rate: float) -> nn.Sequential:
    bn = (lambda c: nn.BatchNorm2d(c)) if norm else (lambda c: nn.Identity())
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), bn(6), nn.ReLU(), nn.MaxPool2d(2),      # (N, 6, 14, 14)
        nn.Conv2d(6, 16, 5), bn(16), nn.ReLU(), nn.MaxPool2d(2),               # (N, 16, 5, 5)
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Dropout(drop_rate),
        nn.Linear(120, 84), nn.ReLU(), nn.Dropout(drop_rate), nn.Linear(84, 10),
    )


data = cnnlab.load_dataset(DATA, image_size=SIZE)
loader = cnnlab.make_loader(data.train, batch_size=256, shuffle=True, mean=data.mean, std=data.std, seed=0)
test = cnnlab.make_loader(data.test, batch_size=1000, shuffle=False, mean=data.mean, std=data.std)
steps = 5 if QUICK else 200                    # 200 steps of 256 images: about 1 epoch
test_batches = 1 if QUICK else 10              # of 1,000 test images


def fit(model: nn.Module) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()
    done = 0
    for epoch in range(100):
        loader.set_epoch(epoch)
        for xb, yb in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
            done += 1
            if done == steps:
                break
        if done == steps:
            break
    model.eval()                                # batch norm: running statistics; dropout: off
    with torch.no_grad():
        scored = [(model(xb).argmax(1) == yb) for _, (xb, yb) in zip(range(test_batches), test)]
    return torch.cat(scored).double().mean().item()


for label, norm, p in (("plain", False, 0.0), ("batch norm", True, 0.0), ("batch norm + dropout 0.5", True, 0.5)):
    torch.manual_seed(0)
    print(f"{label:26s} test accuracy after {steps} steps: {fit(small_cnn(norm, p)):.2%}")
