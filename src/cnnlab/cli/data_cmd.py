"""`cnnlab data`: list the datasets, show one, download one."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

data_app = typer.Typer(help="Datasets: list them, show where their files are looked for, download them.",
                       no_args_is_help=True)

DATA_DIR_OPTION = typer.Option(None, "--data-dir", help="Folder with the dataset files (looked in first; "
                               "downloads go there).")


@data_app.command("list")
def list_command(data_dir: Optional[Path] = DATA_DIR_OPTION) -> None:
    """List the named datasets with their shape, size and whether their files are present."""
    from cnnlab.data import dataset_info, list_datasets

    table = Table("dataset", "images", "classes", "train/test")
    table.add_column("files", overflow="fold")
    for name in list_datasets():
        info = dataset_info(name, data_dir=data_dir)
        where = ("bundled" if not info.files else
                 str(next(iter(info.found.values())).parent) if info.found else "missing (downloads on first use)")
        h, w = info.image_size
        table.add_row(name, f"{info.channels}x{h}x{w}", str(info.num_classes),
                      f"{info.num_train:,}/{info.num_test:,}", where)
    Console().print(table)
    Console().print("Also: folder:PATH (PATH/<class>/<images>, or PATH/train|val|test/<class>/<images>), "
                    "and folder:FILE.csv (filename,label rows beside the images).")


@data_app.command("info")
def info_command(name: str = typer.Argument(..., help="Dataset name, or folder:PATH."),
                 data_dir: Optional[Path] = DATA_DIR_OPTION) -> None:
    """Show a dataset's classes, shape, split sizes, expected files and the folders searched."""
    from cnnlab.data import dataset_info

    info = dataset_info(name, data_dir=data_dir)
    out = Console()
    h, w = info.image_size
    out.print(f"[bold]{info.name}[/bold]: {info.title}")
    out.print(f"images: {info.channels} channel(s), {h}x{w}; train {info.num_train:,}, test {info.num_test:,}")
    classes = ", ".join(info.classes) if info.classes else "(read from the dataset's files)"
    out.print(f"classes ({info.num_classes}): {classes}")
    if info.homepage:
        out.print(f"homepage: {info.homepage}")
    if info.files:
        out.print("files:")
        for f in info.files:
            out.print(f"  {f.name}  MD5 {f.md5}  {f.urls[0]}", soft_wrap=True)
        out.print("looked for in:", soft_wrap=True)
        out.print(info.search, soft_wrap=True, markup=False)
        found = next(iter(info.found.values())).parent if info.found else None
        out.print(f"found in: {found}" if found else "found: no (downloaded on first use, or `cnnlab data download`)")


@data_app.command("download")
def download_command(name: str = typer.Argument(..., help="Dataset name."),
                     data_dir: Optional[Path] = DATA_DIR_OPTION) -> None:
    """Download a dataset's official files (checksum-verified) unless they are already present."""
    from cnnlab.data import download_dataset

    folder = download_dataset(name, data_dir=data_dir)
    Console().print(f"{name}: ships with its library, nothing to download" if folder is None
                    else f"{name}: files present in {folder}")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
