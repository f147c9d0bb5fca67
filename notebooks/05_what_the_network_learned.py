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
# # 5. What the network learned (滤波器学到了什么)
#
# LeNet-5 (with ReLU and max pooling) trained on Fashion-MNIST, then opened up: its evaluation
# (accuracy, per-class scores, confusion matrix), the filters (滤波器) of its first convolution layer,
# the activation maps (激活图) one image produces, and where it looks when it decides: Grad-CAM and
# gradient saliency.

# %%
import os

import torch
from IPython.display import Image

import cnnlab
from cnnlab.display import figure_png

QUICK = os.environ.get("CNNLAB_QUICK") == "1"
DATA, SIZE = ("digits", 28) if QUICK else ("fashion-mnist", None)   # quick: a small offline dataset
result = cnnlab.train("lenet5_relu", DATA, image_size=SIZE, epochs=0.3 if QUICK else 2, out="runs", name="learned",
                      report=False, live=True)

# %% [markdown]
# ## Evaluation: metrics and the confusion matrix
# Rows are the true classes, columns the predicted ones; the shading is the share of each true class.

# %%
evaluation = cnnlab.evaluate(result.run_dir)
evaluation

# %% [markdown]
# ## First-layer filters
# The first convolution layer's kernels: local image templates, usually edges and blobs (第一层卷积滤波器:
# 局部图像模板). Red is positive, blue negative.

# %%
from cnnlab.viz.filters import filter_grid, filters_figure

model = cnnlab.load_model(result.run_dir).model
Image(figure_png(filters_figure(filter_grid(model))))

# %% [markdown]
# ## Activation maps (激活图)
# What each convolution layer outputs for one test image: one map per filter.

# %%
from cnnlab.viz.activations import activations_figure, capture_activations

data = cnnlab.load_dataset(DATA, image_size=SIZE)
loader = cnnlab.make_loader(data.test, batch_size=8, shuffle=False, mean=data.mean, std=data.std)
x, y = next(iter(loader))
image = x[:1]                                            # (1, 1, 28, 28), normalized
print("true class:", data.classes[int(y[0])])
Image(figure_png(activations_figure(capture_activations(model, image), max_channels=16)))

# %% [markdown]
# ## Where the network looks: Grad-CAM and saliency
# Grad-CAM weighs the last convolution layer's maps by the gradient of the class score; saliency is the
# gradient of the score with respect to each input pixel.

# %%
from cnnlab.viz.cam import explain, explanation_figure

pixels = (x[0, 0] * data.std[0] + data.mean[0]).clamp(0, 1).numpy()     # the image on 0..1, for display
Image(figure_png(explanation_figure(pixels, explain(model, image), data.classes)))
