"""`cnnlab train`: train a model and write a run folder (flags override --config and --recipe)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

_OPT = dict(show_default=False)


def train_command(
    model: Optional[str] = typer.Argument(None, help="Model name (see `cnnlab models`); default from the recipe/config."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Dataset: fashion-mnist, mnist, cifar10, digits, folder:PATH ...", **_OPT),
    recipe: Optional[str] = typer.Option(None, "--recipe", "-r", help="A named recipe, e.g. demo (see --list-recipes).", **_OPT),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of settings (e.g. RUN/config.yaml).", **_OPT),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue a stopped run from its folder.", **_OPT),
    epochs: Optional[float] = typer.Option(None, "--epochs", "-e", help="Passes over the training split; 1.5 stops halfway through the second.", **_OPT),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Images per step.", **_OPT),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="sgd | rmsprop | adam | adamw.", **_OPT),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate.", **_OPT),
    momentum: Optional[float] = typer.Option(None, "--momentum", help="SGD/RMSprop momentum.", **_OPT),
    nesterov: Optional[bool] = typer.Option(None, "--nesterov/--no-nesterov", help="Nesterov momentum (SGD).", **_OPT),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", "--wd", help="Weight decay (not on biases/norms).", **_OPT),
    schedule: Optional[str] = typer.Option(None, "--schedule", help="onecycle | cosine | linear | step | constant.", **_OPT),
    warmup_epochs: Optional[float] = typer.Option(None, "--warmup", help="Linear warm-up, in epochs.", **_OPT),
    label_smoothing: Optional[float] = typer.Option(None, "--label-smoothing", help="0..1.", **_OPT),
    crop_padding: Optional[int] = typer.Option(None, "--crop-padding", help="Random crop after padding by N px; 0 = off.", **_OPT),
    hflip: Optional[bool] = typer.Option(None, "--hflip/--no-hflip", help="Random horizontal flips.", **_OPT),
    alternate_flip: Optional[bool] = typer.Option(None, "--alternate-flip/--random-flip", help="With --hflip: mirror each image in every other epoch instead of at random (airbench).", **_OPT),
    erasing: Optional[float] = typer.Option(None, "--erasing", help="Random-erasing probability per image.", **_OPT),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Resize images to NxN first (e.g. 32 for lenet5); default: as stored.", **_OPT),
    val_fraction: Optional[float] = typer.Option(None, "--val-fraction", help="Share of train held out for validation.", **_OPT),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help="Start from pretrained weights: a torchvision .pth state_dict or a cnnlab checkpoint/run.", **_OPT),
    new_head: Optional[bool] = typer.Option(None, "--new-head/--keep-head", help="With --weights: a fresh classifier for this dataset (default), or load the file's (same class count).", **_OPT),
    freeze_backbone: Optional[bool] = typer.Option(None, "--freeze-backbone/--no-freeze-backbone", help="With --weights: train only the classifier.", **_OPT),
    backbone_lr_mult: Optional[float] = typer.Option(None, "--backbone-lr-mult", help="Fine-tune: backbone lr = lr x this, e.g. 0.1.", **_OPT),
    norm_bias_lr_mult: Optional[float] = typer.Option(None, "--norm-bias-lr-mult", help="Normalisation layers' lr = lr x this (airbench: 64).", **_OPT),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed.", **_OPT),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N.", **_OPT),
    precision: Optional[str] = typer.Option(None, "--precision", help="auto (default: bf16 where the CPU/GPU runs it natively, else fp32) | fp32 | bf16 | fp16 (CUDA).", **_OPT),
    channels_last: Optional[bool] = typer.Option(None, "--channels-last/--no-channels-last", help="NHWC memory layout (default: auto, the faster one, timed once per CPU and model).", **_OPT),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the model.", **_OPT),
    ema_decay: Optional[float] = typer.Option(None, "--ema", help="EMA decay per step, e.g. 0.999; 0 = off.", **_OPT),
    lookahead: Optional[bool] = typer.Option(None, "--lookahead/--no-lookahead", help="airbench's lookahead: every 5 steps the weights move to a slow average of themselves.", **_OPT),
    tta: Optional[bool] = typer.Option(None, "--tta/--no-tta", help="Flip test-time augmentation at the final test.", **_OPT),
    tta_translate: Optional[bool] = typer.Option(None, "--tta-translate/--no-tta-translate", help="With --tta: also the 1-pixel shifted views (multi-crop TTA).", **_OPT),
    tta_grid: Optional[bool] = typer.Option(None, "--tta-grid/--no-tta-grid", help="With --tta-translate: all eight 1-pixel shifts (18 views).", **_OPT),
    grad_clip: Optional[float] = typer.Option(None, "--grad-clip", help="Max gradient norm; 0 = off.", **_OPT),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads; 0 = all cores.", **_OPT),
    deterministic: Optional[bool] = typer.Option(None, "--deterministic/--no-deterministic", help="Deterministic algorithms.", **_OPT),
    on_nan: Optional[str] = typer.Option(None, "--on-nan", help="stop | skip: what a NaN/inf loss does.", **_OPT),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="Also save every N steps.", **_OPT),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="Look for dataset files here first.", **_OPT),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Parent folder of run folders (default runs).", **_OPT),
    run_dir: Optional[str] = typer.Option(None, "--run-dir", help="Exact run folder to create.", **_OPT),
    name: Optional[str] = typer.Option(None, "--name", help="Run folder name.", **_OPT),
    report: Optional[bool] = typer.Option(None, "--report/--no-report", help="Write report.html at the end.", **_OPT),
    quiet: Optional[bool] = typer.Option(None, "--quiet", "-q", help="One line per epoch, no progress bars.", **_OPT),
    list_recipes: bool = typer.Option(False, "--list-recipes", help="List the named recipes and exit."),
    show_config: bool = typer.Option(False, "--show-config", help="Print the resolved settings and where each came "
                                     "from (model default, recipe, config file, flag) and exit without training."),
    check: bool = typer.Option(False, "--check", help="Run the sanity checks (initial loss, overfit a tiny batch, "
                               "eval mode) on this configuration and exit without training."),
) -> None:
    """Train MODEL on --data and write a run folder (config, metrics, checkpoints, results, report).

    Settings, later wins: defaults < the model's defaults < --recipe < --config < flags (see
    --show-config). Ctrl-C or SIGTERM saves a
    checkpoint at the next step and exits; continue with --resume RUN.
    """
    from cnnlab.training import list_recipes as recipes
    from cnnlab.training import train

    if list_recipes:
        typer.echo("\n".join(recipes()))
        return
    flags: dict[str, Any] = {k: v for k, v in locals().items() if v is not None and k in _SETTINGS}
    if epochs is not None and epochs.is_integer():
        flags["epochs"] = int(epochs)  # whole epochs stay integers in config.yaml and results.json
    if show_config:
        from cnnlab.training import describe_settings, resolve_settings

        typer.echo(describe_settings(resolve_settings(model, data, config=config, recipe=recipe, overrides=flags)))
        return
    if check:
        _run_checks(model, data, config, recipe, flags)
        return
    result = train(model, data, config=config, recipe=recipe, resume=resume, **flags)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _run_checks(model: str | None, data: str | None, config: Path | None, recipe: str | None,
                flags: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from cnnlab.training import resolve_config
    from cnnlab.training.sanity import check_config

    results = check_config(resolve_config(model, data, config=config, recipe=recipe, overrides=flags))
    table = Table("check", "result", "detail")
    for r in results:
        table.add_row(r.name, "[green]pass[/]" if r.passed else "[red]FAIL[/]", r.detail)
    Console().print(table)
    if not all(r.passed for r in results):
        raise typer.Exit(1)


_SETTINGS = {
    "epochs", "batch_size", "optimizer", "lr", "momentum", "nesterov", "weight_decay", "schedule", "warmup_epochs",
    "label_smoothing", "crop_padding", "hflip", "alternate_flip", "erasing", "val_fraction", "seed", "device", "precision",
    "channels_last", "compile", "ema_decay", "lookahead", "tta", "tta_translate", "tta_grid", "grad_clip", "threads", "deterministic", "on_nan", "checkpoint_every",
    "data_dir", "out", "run_dir", "name", "report", "quiet", "weights", "new_head", "freeze_backbone", "backbone_lr_mult",
    "norm_bias_lr_mult", "image_size",
}


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
