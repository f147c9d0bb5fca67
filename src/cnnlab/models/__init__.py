"""The architecture zoo: one file per family, every variant registered by name.

Importing this package imports every family module so that their variants are registered.
"""
from cnnlab.models._registry import (ModelEntry, TrainDefaults, create_model, list_models, model_info, register_model,
                                     registered, train_defaults)

# Family modules (imported for their registrations).
from cnnlab.models import linear  # noqa: F401  E402
from cnnlab.models import mlp  # noqa: F401  E402
from cnnlab.models import lenet  # noqa: F401  E402
from cnnlab.models import alexnet  # noqa: F401  E402
from cnnlab.models import vgg  # noqa: F401  E402
from cnnlab.models import nin  # noqa: F401  E402
from cnnlab.models import googlenet  # noqa: F401  E402
from cnnlab.models import resnet  # noqa: F401  E402
from cnnlab.models import densenet  # noqa: F401  E402
from cnnlab.models import fastnet  # noqa: F401  E402
from cnnlab.models import mobilenet  # noqa: F401  E402
from cnnlab.models import shufflenet  # noqa: F401  E402
from cnnlab.models import senet  # noqa: F401  E402

__all__ = ["ModelEntry", "create_model", "list_models", "model_info", "register_model", "registered", "TrainDefaults", "train_defaults"]
