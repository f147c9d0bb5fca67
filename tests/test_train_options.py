"""`cnnlab train`'s setting options are generated from TrainConfig's fields: a setting with a help
text is an option, and what the user gives reaches `train` as that setting, and nothing else."""
from __future__ import annotations

import dataclasses

import pytest
import typer

from cnnlab.cli import _register_all, app
from cnnlab.training import TrainConfig


def _command(name: str):
    _register_all()
    return typer.main.get_command(app).commands[name]


def test_every_setting_with_a_help_text_is_a_train_option():
    options = {p.name: p for p in _command("train").params}
    for f in dataclasses.fields(TrainConfig):
        if f.metadata.get("help"):
            assert f.name in options and options[f.name].help == f.metadata["help"]
    assert "model_kwargs" not in options and "betas" not in options  # no help text: config files only


def test_given_options_reach_train_as_settings(monkeypatch, capsys):
    import cnnlab.training
    from cnnlab.cli import main

    seen = {}

    class Done:
        exit_code = 0

    monkeypatch.setattr(cnnlab.training, "train", lambda model, **kw: seen.update(model=model, **kw) or Done())
    with pytest.raises(SystemExit) as done:
        main(["train", "lenet5", "-d", "digits", "--epochs", "2", "--wd", "0.01", "--no-hflip", "--tta", "grid", "-q"])
    assert done.value.code == 0
    assert seen == {"model": "lenet5", "config": None, "recipe": None, "resume": None, "data": "digits", "epochs": 2,
                    "weight_decay": 0.01, "hflip": False, "tta": "grid", "quiet": True}
    assert isinstance(seen["epochs"], int)  # whole epochs stay integers in config.yaml


def test_lr_find_shares_the_overlapping_options():
    train = {p.name: p.help for p in _command("train").params}
    lr_find = {p.name: p.help for p in _command("lr-find").params}
    for name in ("data", "optimizer", "batch_size", "image_size", "seed", "threads"):
        assert lr_find[name] == train[name]


def test_an_unknown_setting_name_is_refused_when_the_command_is_built():
    from cnnlab.cli.config_options import config_fields

    with pytest.raises(ValueError, match="no command-line setting"):
        config_fields(["lr", "lrr"])
