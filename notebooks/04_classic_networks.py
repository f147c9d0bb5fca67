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
# The course's networks in order: LeNet (the first CNN), AlexNet (a deeper, wider LeNet with ReLU,
# dropout (丢弃法) and max pooling (最大池化)), VGG (repeated blocks of 3x3 convolutions), NiN (1x1
# convolutions (1x1 卷积层) instead of dense layers), GoogLeNet (Inception blocks), LeNet with batch
# normalization (批标准化), ResNet (残差网络, residual connections) and DenseNet (稠密连接网络).
#
# The book (Dive into Deep Learning) trains each for 10 epochs on Fashion-MNIST on a GPU, resizing the
# images to 224 (or 96) pixels for the larger ones. cnnlab's models take the 28x28 images as they are
# (small-input stems), which divides the cost by up to 64, but on a 2-core CPU only the LeNets train
# within this notebook's 5 minutes. The table below fills in every network whose run folder exists
# (`runs/course-<name>`), so the others can be trained with the commands it prints, and the notebook
# re-run to compare.

# %%
import os
from pathlib import Path

import torch

import cnnlab
from cnnlab.errors import CheckpointError

QUICK = os.environ.get("CNNLAB_QUICK") == "1"
DATA, SIZE = ("digits", 28) if QUICK else ("fashion-mnist", None)   # quick: a small offline dataset
RUNS = Path("runs")
TRAIN_HERE = ["lenet", "lenet-relu"]   # add names to train more here (see the time estimates below)

# %% [markdown]
# ## The networks and the book's results
# Each entry is the settings of one run: the model and, for the LeNets, the book's optimizer (SGD
# without momentum, a constant learning rate of 0.9, batch 256). The book's test accuracy after 10
# epochs is beside it. (When the lab's per-model course recipes are installed, `recipe="course-lenet"`
# and so on replace these settings.)

# %%
BOOK = {  # name: (cnnlab settings, the book's test accuracy after 10 epochs)
    "lenet": (dict(model="lenet5", optimizer="sgd", lr=0.9, momentum=0.0, nesterov=False, weight_decay=0.0,
                   schedule="constant", batch_size=256, epochs=10), 0.779),
    "alexnet": (dict(model="alexnet", lr=0.01, batch_size=128, epochs=10), 0.883),
    "vgg": (dict(model="vgg11", lr=0.05, batch_size=128, epochs=10), 0.920),
    "nin": (dict(model="nin", lr=0.1, batch_size=128, epochs=10), 0.790),
    "googlenet": (dict(model="googlenet", lr=0.1, batch_size=128, epochs=10), 0.886),
    "lenet-relu": (dict(model="lenet5_relu", lr=0.1, batch_size=256, epochs=10), None),
    "resnet18": (dict(model="resnet18", lr=0.05, batch_size=256, epochs=10), 0.893),
    "densenet": (dict(model="densenet121", lr=0.1, batch_size=256, epochs=10), 0.885),
}
# The book's LeNet + batch norm (0.807) has no registered model yet; lenet-relu (ReLU + max pooling, the
# AlexNet changes on LeNet's size) takes its place in this notebook.

# %% [markdown]
# ## Size and cost at 1x28x28
# Parameters and multiply-adds per image, counted on the `meta` device (shapes only, instant):

# %%
cost = {}
for name, (settings, _) in BOOK.items():
    with torch.device("meta"):
        model = cnnlab.create_model(settings["model"], num_classes=10, in_channels=1, input_size=28)
    s = cnnlab.summary(model, (1, 28, 28))
    cost[name] = (s.totals.params, s.totals.macs)
    print(f"{name:11s} {settings['model']:12s} {s.totals.params:>12,} params {s.totals.macs / 1e6:>9.1f} M MACs per image")

# %% [markdown]
# ## Training the LeNets, live
# `live=True` shows the progress bar and the loss, accuracy and learning-rate curves as they train.
# Interrupting the kernel (the stop button) saves `checkpoints/last.pt`;
# `cnnlab.train(resume="runs/course-lenet", live=True)` continues from there.

# %%
results = {}
for name in TRAIN_HERE:
    settings = dict(BOOK[name][0])
    if QUICK:
        settings.update(data=DATA, image_size=SIZE, epochs=0.3)
    elif name.startswith("lenet"):
        settings["epochs"] = 2          # 10 in the book; 2 keeps this notebook within 5 minutes on 2 cores
    run_dir = RUNS / f"course-{name}"
    if (run_dir / "results.json").exists():
        print(f"{run_dir} is already trained; delete it to train again")
        continue
    results[name] = cnnlab.train(**settings, run_dir=str(run_dir), report=False, live=True)

# %%
results["lenet"] if "lenet" in results else None

# %% [markdown]
# ## Our results beside the book's
# Test accuracy of every run folder `runs/course-<name>` that exists; the others show the command that
# trains them (at the cost above, the larger ones take up to hours per epoch on a 2-core CPU).

# %%
def cli_flag(key: str, value) -> str:
    """A setting as `cnnlab train` takes it: --batch-size 256, --nesterov / --no-nesterov."""
    flag = key.replace("_", "-")
    if isinstance(value, bool):
        return f"--{flag}" if value else f"--no-{flag}"
    return f"--{flag} {value}"


rows = []
for name, (settings, book_acc) in BOOK.items():
    try:
        run = cnnlab.open_run(RUNS / f"course-{name}")
        ours = f"{run.results['test_acc']:.3f} ({run.results['epochs']:g} epochs)" if run.results else run.state.state
    except CheckpointError:
        flags = " ".join(cli_flag(k, v) for k, v in settings.items() if k != "model")
        ours = f"not trained: cnnlab train {settings['model']} {flags} --run-dir runs/course-{name}"
    params, macs = cost[name]
    rows.append((name, f"{params:,}", f"{macs / 1e6:.1f}", "" if book_acc is None else f"{book_acc:.3f}", ours))

from cnnlab.display import table
from IPython.display import HTML

HTML(table(("network", "params", "M MACs / image", "book (10 epochs, GPU)", "this lab"), rows))
