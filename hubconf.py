"""torch.hub entry points: one per registered cnnlab model, generated from the registry.

    model = torch.hub.load("/path/to/cnnlab", "resnet18", source="local", num_classes=10)
    model = torch.hub.load("/path/to/cnnlab", "mobilenet_v2", source="local", input_size=32)

Keyword arguments go to `cnnlab.create_model` unchanged (``num_classes``, ``in_channels``,
``input_size``, ``small_stem``, ``drop_rate``, ...). cnnlab ships no pretrained weights: load
torchvision's into a model with `cnnlab.models.convert.load_torchvision_weights`.
"""
import importlib.util as _importlib_util
import sys as _sys
from pathlib import Path as _Path

dependencies = ["torch", "torchvision"]

# torch.hub imports this file from a checkout where cnnlab may not be installed: use its src/ folder
_SRC = _Path(__file__).resolve().parent / "src"
if _importlib_util.find_spec("cnnlab") is None and _SRC.is_dir():
    _sys.path.insert(0, str(_SRC))

from cnnlab.errors import ConfigError as _ConfigError  # noqa: E402
from cnnlab.models import create_model as _create_model  # noqa: E402
from cnnlab.models import list_models as _list_models  # noqa: E402
from cnnlab.models import model_info as _model_info  # noqa: E402


def _entry_point(name: str):
    def build(pretrained: bool = False, **kwargs):
        if pretrained:
            raise _ConfigError(
                f"cnnlab has no pretrained weights for {name}; build it with pretrained=False and load "
                f"torchvision's with cnnlab.models.convert.load_torchvision_weights(model, path)"
            )
        return _create_model(name, **kwargs)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"{_model_info(name).doc}\n\nKeyword arguments go to cnnlab.create_model({name!r}, ...)."
    return build


globals().update({_name: _entry_point(_name) for _name in _list_models()})
