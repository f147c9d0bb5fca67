"""`cnnlab scratch train`: train the NumPy-from-scratch ConvNet on a subset of a small dataset."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

scratch_app = typer.Typer(help="A ConvNet written from scratch in NumPy (cnnlab.scratch).", no_args_is_help=True)


@scratch_app.command("train")
def train_command(
    dataset: str = typer.Option("fashion-mnist", "--dataset", "-d", help="A small named dataset: fashion-mnist, mnist, digits (offline), ..."),
    samples: int = typer.Option(2000, "--samples", "-n", min=1, help="Training images (a seeded random subset)."),
    test_samples: int = typer.Option(1000, "--test-samples", min=1, help="Test images to measure accuracy on."),
    epochs: int = typer.Option(1, "--epochs", "-e", min=1, help="Passes over the training subset."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", min=1, help="Images per SGD step."),
    lr: float = typer.Option(0.02, "--lr", help="SGD learning rate."),
    momentum: float = typer.Option(0.9, "--momentum", help="SGD momentum (0 for plain SGD)."),
    filters: int = typer.Option(8, "--filters", min=1, help="Feature maps of the 3x3 convolution."),
    hidden: int = typer.Option(64, "--hidden", min=1, help="Units of the hidden fully connected layer."),
    conv: str = typer.Option("im2col", "--conv", help="Convolution implementation: im2col (fast) or naive (loops)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the subset, the initial weights and the shuffles."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Folder holding the dataset files."),
    download: bool = typer.Option(True, "--download/--no-download", help="Download the dataset when it is not found."),
) -> None:
    """conv 3x3 -> ReLU -> 2x2 max pool -> affine -> ReLU -> affine -> softmax, all in NumPy, trained with SGD."""
    import numpy as np

    from cnnlab.data import load_dataset
    from cnnlab.errors import DataError
    from cnnlab.scratch import EpochStats, accuracy, fit, scratch_convnet, softmax_cross_entropy
    from cnnlab.scratch.data import split_to_numpy
    from cnnlab.training.divergence import DivergenceWatch

    try:
        bundle = load_dataset(dataset, data_dir=data_dir, download=download, val_fraction=0.0, seed=seed)
    except DataError as err:
        raise DataError(f"{err}\nThe from-scratch ConvNet also runs offline on scikit-learn's digits: "
                        "cnnlab scratch train --dataset digits") from None
    if bundle.test is None:
        raise DataError(f"dataset {dataset!r} has no test split to measure accuracy on; choose another --dataset")
    x, y = split_to_numpy(bundle.train, bundle.mean, bundle.std, limit=samples, seed=seed)
    x_test, y_test = split_to_numpy(bundle.test, bundle.mean, bundle.std, limit=test_samples, seed=seed + 1)
    model = scratch_convnet(bundle.in_channels, x.shape[2:], bundle.num_classes, filters=filters, hidden=hidden,
                            conv_impl=conv, seed=seed)

    initial_loss, _ = softmax_cross_entropy(model.forward(x[:batch_size]), y[:batch_size])
    typer.echo(f"{bundle.name}: {len(x)} training and {len(x_test)} test images {tuple(x.shape[1:])}, "
               f"{bundle.num_classes} classes; {model.num_parameters():,} parameters, {conv} convolution")
    typer.echo(f"initial loss {initial_loss:.3f} (ln {bundle.num_classes} = {np.log(bundle.num_classes):.3f}); "
               f"chance accuracy {1 / bundle.num_classes:.3f}")

    watch = DivergenceWatch(bundle.num_classes, lr)

    def report(stats: EpochStats) -> None:
        typer.echo(f"epoch {stats.epoch}: loss {stats.train_loss:.4g}  train acc {stats.train_acc:.3f}  "
                   f"test acc {stats.val_acc:.3f}  ({stats.seconds:.1f} s)")
        for warning in (watch.loss(stats.train_loss, f"epoch {stats.epoch}", lr),
                        watch.validation(stats.val_acc or 0.0, stats.epoch, len(x_test), lr)):
            if warning:
                typer.secho(warning, err=True, fg=typer.colors.YELLOW)

    fit(model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum, seed=seed,
        x_val=x_test, y_val=y_test, on_epoch=report)
    typer.echo(f"final: train acc {accuracy(model, x, y):.3f}, test acc {accuracy(model, x_test, y_test):.3f}")


def register(app: typer.Typer) -> None:
    app.add_typer(scratch_app, name="scratch")
