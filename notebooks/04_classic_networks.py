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
# # 4. From LeNet to ResNet: the classic networks on Fashion-MNIST
#
# The course's networks in the order of its table (经典卷积神经网络): LeNet, AlexNet, VGG, NiN,
# GoogLeNet, LeNet with batch normalization (批标准化), ResNet and DenseNet. The book (Dive into Deep
# Learning) trains each for 10 epochs on Fashion-MNIST on a GPU, the larger ones on images resized to
# 224 or 96 pixels, and reports their test accuracy. cnnlab has one **course recipe** per row of that
# table (`course-lenet` ... `course-densenet`, and `d2l-lenet`, the book's LeNet run setting for
# setting): each keeps the network's idea at Fashion-MNIST's own 28x28 pixels, reduced in width where
# the recipe says so, with the training it needs to get there in a few epochs on a CPU.
#
# This notebook introduces each network with its recipe and its layer-by-layer summary, trains some of
# them here through their recipes, and ends with the course's table: the book's accuracy beside the
# lab's recorded runs and the runs of this notebook.

# %%
import os
from pathlib import Path

from IPython.display import Markdown

import cnnlab
from cnnlab.bench.course import COURSE_ROWS, read_runs, table_cells, table_footnote, table_header
from cnnlab.training import resolve_settings

QUICK = os.environ.get("CNNLAB_QUICK") == "1"
ROWS = {row.recipe: row for row in COURSE_ROWS}     # the book's table: the network and its test accuracy
summaries = {}                                      # recipe -> its model's summary, for the cost table


def network(recipe: str, depth: int | None = None):
    """Print the settings the recipe sets (the rest are cnnlab's and the model's defaults); return the
    summary of its model at Fashion-MNIST's 1x28x28 (``depth`` folds the layers below that depth)."""
    resolved = resolve_settings(recipe=recipe)
    own = {k: v for k, v in resolved.config.to_dict().items() if resolved.sources[k] == "recipe" and k != "report"}
    print(f"{ROWS[recipe].network}: recipe {recipe}, the book's test accuracy {ROWS[recipe].book_acc:.3f}")
    print("  " + ", ".join(f"{k}={v}" for k, v in own.items()))
    cfg = resolved.config
    model = cnnlab.create_model(cfg.model, num_classes=10, in_channels=1, input_size=28, **cfg.model_kwargs)
    summaries[recipe] = cnnlab.summary(model, (1, 28, 28), depth=depth)
    return summaries[recipe]


# %% [markdown]
# ## LeNet (LeNet 卷积神经网络)
# Two convolution layers (卷积层) of 5x5 filters, each followed by a sigmoid activation (激活函数) and
# 2x2 average pooling (平均池化), then three fully connected layers (全连接层): 120, 84 and 10 units.
# `d2l-lenet` trains it as the book does (plain SGD at a constant learning rate of 0.9, batch 256, 10
# epochs); `course-lenet` trains the same network with Adam and a one-cycle learning-rate schedule
# (学习率调度), which a sigmoid network needs far fewer steps with.

# %%
network("d2l-lenet")

# %%
network("course-lenet")

# %% [markdown]
# ## AlexNet (深度卷积神经网络 AlexNet)
# A deeper and wider LeNet: five convolution layers, ReLU (修正线性单元) instead of the sigmoid, max
# pooling (最大池化) instead of average pooling, and dropout (丢弃法) in its large fully connected
# layers. At 224 pixels its first filter is 11x11 at stride (步幅) 4; at 28 pixels the recipe's
# `alexnet_small` uses 5x5 at stride 1, a quarter of the filters, and 256-unit dense layers.

# %%
network("course-alexnet")

# %% [markdown]
# ## VGG (使用块的网络 VGG)
# A network of repeated blocks (块): each VGG block is a few 3x3 convolutions with padding (填充) 1, then
# a 2x2 max pool that halves the height and width. Two stacked 3x3 layers see a 5x5 receptive field
# (感受野) with fewer parameters than one 5x5 layer. The recipe's `vgg_small_bn` has three blocks of two
# convolutions (16, 32, 64 channels) and batch normalization after each, so it trains in a few epochs.

# %%
network("course-vgg")

# %% [markdown]
# ## NiN (网络中的网络 NiN)
# Network in network: each block is a KxK convolution followed by two 1x1 convolutions (1x1 卷积层),
# which act as a small dense layer applied at every pixel. The last block has one channel per class,
# and global average pooling (全局平均池化) turns each channel into a class score: there is no dense
# layer at all. The recipe's `nin_small_bn` adds batch normalization after every convolution but the
# class-map one, so that it trains in two epochs.

# %%
network("course-nin")

# %% [markdown]
# ## GoogLeNet (含并行连结的网络 GoogLeNet)
# The Inception block (Inception 块) runs four branches in parallel (并行) on the same input: a 1x1
# convolution; 1x1 then 3x3; 1x1 then a second 3x3 (the "5x5" branch); 3x3 max pooling then 1x1. Their
# outputs are concatenated along the channel dimension (通道维). The summary shows each block as one
# row (`depth=1`); `depth=2` opens them up.

# %%
network("course-googlenet", depth=1)

# %% [markdown]
# ## LeNet with batch normalization (批标准化)
# The book's batch-normalization chapter puts a BatchNorm layer before every sigmoid of LeNet: each
# channel (each unit, in the dense layers) is normalized over the batch, then scaled and shifted by two
# learned parameters, which lets the sigmoid network take a far larger learning rate. Notebook 3 shows
# its train and eval behaviour.

# %%
network("course-lenet-bn")

# %% [markdown]
# ## ResNet (残差网络)
# The residual block (残差块) adds its input to the output of two 3x3 convolutions, y = F(x) + x, through
# a shortcut connection (跳跃连接; a 1x1 convolution where the size changes), so a deep stack can start
# as the identity. ResNet-18 has eight such blocks in four stages, then global average pooling. The
# recipe's `resnet18_small` keeps the blocks at a quarter of the widths; the summary shows one row per
# block (`depth=2`).

# %%
network("course-resnet18", depth=2)

# %% [markdown]
# ## DenseNet (稠密连接网络)
# In a dense block (稠密块) each layer's output is concatenated to its input instead of added, so every
# layer sees all earlier feature maps; transition layers (过渡层: a 1x1 convolution and 2x2 average
# pooling) halve the channels and the size between blocks.

# %%
network("course-densenet", depth=2)

# %% [markdown]
# ## Size and cost at 1x28x28
# Parameters, multiply-adds (乘加运算) per image, and the epochs each recipe trains. Training costs about
# three forward passes per image (the forward pass and a backward pass of about twice its cost), each
# multiply-add two FLOPs, over the recipes' 54,000 training images per epoch.

# %%
from cnnlab.display import table
from IPython.display import HTML

HTML(table(("network", "recipe", "model", "params", "M MACs / image", "recipe's epochs"),
           [(ROWS[r].network, r, s.model_type, f"{s.totals.params:,}", f"{s.totals.macs / 1e6:.1f}",
             f"{resolve_settings(recipe=r).config.epochs:g}") for r, s in summaries.items()]))

# %% [markdown]
# ## Training through the recipes
# `cnnlab.train(recipe=NAME)` trains with the recipe's settings, exactly as `cnnlab train --recipe NAME`
# does; a keyword overrides one setting (`epochs=1`). `live=True` shows the progress bar and the loss,
# accuracy and learning-rate curves as they train; interrupting the kernel saves `checkpoints/last.pt`
# and prints the line that resumes the run.
#
# A full recipe takes one to several minutes on a 2-core CPU, so this notebook trains what fits its 5
# minutes: LeNet with batch normalization **in full** (its recipe's 4 epochs), then ResNet-18 for **one
# epoch instead of its recipe's three (shortened)**, so its accuracy is not the recipe's. (With
# `CNNLAB_QUICK=1` each trains a few steps on scikit-learn's small digits dataset instead.)

# %%
trained = {}           # recipe -> the TrainResult of its run in this notebook


def train_recipe(recipe: str, epochs: float | None = None):
    """Train ``recipe`` (``epochs`` shortens it), its run in runs/RECIPE."""
    overrides = dict(data="digits", image_size=28, epochs=0.3) if QUICK else {} if epochs is None else dict(epochs=epochs)
    trained[recipe] = cnnlab.train(recipe=recipe, out="runs", name=recipe, live=True, **overrides)
    return trained[recipe]


train_recipe("course-lenet-bn")

# %%
train_recipe("course-resnet18", epochs=1)     # shortened: the recipe trains 3 epochs

# %% [markdown]
# ## The course's table
# The book's test accuracy beside the lab's: the recorded runs of `cnnlab course-table`
# (`results/course/runs.csv` in the repository, every recipe in full, per seed) and the runs of this
# notebook. The table is the one `cnnlab course-table` writes to `results/course/course.md`, made by the
# same code (`cnnlab.bench.course`), with a column for this notebook. "-": no run recorded yet.

# %%
def recorded_runs() -> tuple[Path | None, list[dict[str, str]]]:
    """The course table's runs.csv of this checkout (from notebooks/, the repository's root or beside
    the package's source), and its rows."""
    where = [Path("results/course"), Path("../results/course"), Path(cnnlab.__file__).resolve().parents[2] / "results/course"]
    found = next((p / "runs.csv" for p in where if (p / "runs.csv").is_file()), None)
    return found, read_runs(found) if found else []


def this_notebook(recipe: str) -> str:
    """The test accuracy of this notebook's run of ``recipe``, and how much of the recipe it trained."""
    if recipe not in trained:
        return "-"
    result = trained[recipe]
    if QUICK:
        return f"{result.results['test_acc']:.4f} (quick mode: digits, a few steps)"
    full = resolve_settings(recipe=recipe).config.epochs
    epochs = result.results["epochs"]
    done = "the recipe in full" if epochs >= full else f"{epochs:g} of its {full:g} epochs: shortened"
    return f"{result.results['test_acc']:.4f} ({done})"


SEEDS = (0, 1)
csv_path, runs = recorded_runs()
head = [*table_header(SEEDS), "this notebook"]
lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
for row, cells in zip(COURSE_ROWS, table_cells(COURSE_ROWS, runs, SEEDS)):
    lines.append("| " + " | ".join([*cells, this_notebook(row.recipe)]) + " |")
print(f"recorded runs: {csv_path or 'none found (run the command below)'}")
Markdown("\n".join(lines) + "\n\n" + table_footnote(runs))

# %% [markdown]
# The "ours" columns are whole recipes, as `cnnlab course-table` trains them; this notebook's column is
# what ran above, on this computer (its CPU and the run's time are in each run's report:
# `cnnlab.open_run("runs/course-lenet-bn")`). One command trains every row for both seeds, keeping the
# runs already in `results/course/runs.csv`, and rewrites the table and its chart
# (`results/course/course.png`):
#
# ```bash
# cnnlab course-table --seeds 0 1 --out results/course
# ```
#
# `--recipe course-vgg` trains one row only; in Python, `cnnlab.train(recipe="course-vgg")` trains the
# same run as above.
