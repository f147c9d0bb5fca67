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
# # 1. Image classification (图像分类): from pixels to a CNN
#
# The lecture starts from the core task of computer vision: given a fixed set of labels, give each
# image a score per class. This notebook follows its order on Fashion-MNIST (28x28 grey images of
# 10 kinds of clothing):
#
# 1. an image is a grid of numbers (像素 pixels);
# 2. a linear classifier (线性分类器) `f(x) = Wx + b`, and its one template per class;
# 3. a 2-layer network (2 层神经网络) `f = W2 max(0, W1 x)`;
# 4. hand-crafted features (手工特征: colour histogram 颜色直方图, HoG 方向梯度直方图, bag of visual
#    words 词袋) fed to a linear classifier, against a small convolutional network (卷积神经网络) on the
#    same data.
#
# Runs are written under `runs/` next to this notebook. `CNNLAB_QUICK=1` (the test suite) shortens
# every training to a few seconds.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image

import cnnlab
from cnnlab.display import figure_png

QUICK = os.environ.get("CNNLAB_QUICK") == "1"
DATA, SIZE = ("digits", 28) if QUICK else ("fashion-mnist", None)   # quick: a small offline dataset
EPOCHS = 0.3 if QUICK else 1           # passes over the 54,000 training images
LIMIT = 200 if QUICK else 3000         # images per split for the hand-crafted features
RUNS = "runs"

# %% [markdown]
# ## Pixels (像素)
# To the computer an image is a `C x H x W` array of numbers: here 1 channel of 28x28 bytes (0..255).

# %%
data = cnnlab.load_dataset(DATA, image_size=SIZE)
images, labels = data.train.images, data.train.labels        # uint8 (N, 1, 28, 28), int64 (N,)
print(images.shape, images.dtype, "classes:", data.classes)
print(images[0, 0, 10:16, 10:16])                              # a 6x6 patch of the first image

fig, axes = plt.subplots(2, 10, figsize=(12, 2.6))
for k, ax in enumerate(axes.flat):
    ax.imshow(images[(labels == k % 10).nonzero()[k // 10, 0], 0], cmap="gray")
    ax.set_title(data.classes[k % 10], fontsize=7)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Linear classifier (线性分类器) and its class templates
# `f(x, W) = Wx + b`: 784 pixels in, 10 scores out. Each row of `W` has one weight per pixel, so it can
# be drawn as an image: the class's template (每个类别的模板). `live=True` draws the curves as it trains.

# %%
linear = cnnlab.train("linear", DATA, image_size=SIZE, epochs=EPOCHS, lr=0.05, out=RUNS, name="linear", report=False, live=True)
linear

# %%
from cnnlab.viz.templates import templates_figure, templates_from_run

Image(figure_png(templates_figure(templates_from_run(linear.run_dir))))

# %% [markdown]
# ## A 2-layer network (2 层神经网络)
# `f = W2 max(0, W1 x)`: a hidden layer of ReLU units between the pixels and the scores.

# %%
mlp = cnnlab.train("mlp", DATA, image_size=SIZE, epochs=EPOCHS, lr=0.1, out=RUNS, name="mlp", report=False, live=True)
mlp

# %% [markdown]
# ## Hand-crafted features (手工特征) versus a CNN
# Before CNNs, images were described by designed features and a linear classifier learned on top of
# them. HoG (方向梯度直方图) divides the image into 8x8-pixel cells and quantizes the edge direction of each
# into 9 bins; bag of visual words (词袋) clusters random patches into a codebook and counts the words
# in each image. A CNN learns its features from the data instead.

# %%
from cnnlab.features import FeatureRunConfig, run_features

feature_acc = {}
for method in ("pixels", "color-hist", "hog", "bovw"):
    result = run_features(FeatureRunConfig(method, DATA, classifier="svm", limit=LIMIT, image_size=SIZE,
                                           use_cache=not QUICK),
                          f"{RUNS}/features-{method}", show_progress=False)
    feature_acc[method] = result.results["test_acc"]
    print(f"{method:10s} {result.meta['feature_dim']:6,} numbers per image  test accuracy {result.results['test_acc']:.2%}")

# %%
cnn = cnnlab.train("lenet5_relu", DATA, image_size=SIZE, epochs=EPOCHS, lr=0.1, out=RUNS, name="cnn", report=False, live=True)
rows = [(f"{m} + linear SVM ({LIMIT:,} training images)", a) for m, a in feature_acc.items()]
rows += [("linear classifier on pixels", linear.results["test_acc"]), ("2-layer MLP", mlp.results["test_acc"]),
         ("CNN (LeNet-5, ReLU)", cnn.results["test_acc"])]
for name, acc in rows:
    print(f"{name:48s} {acc:.2%}")
