"""The architecture zoo: one file per family, every variant registered by name.

Importing this package imports every family module so that their variants are registered.
"""
from cnnlab.models._registry import ModelEntry, create_model, list_models, model_info, register_model

# Family modules (imported for their registrations).
from cnnlab.models import linear  # noqa: F401  E402

__all__ = ["ModelEntry", "create_model", "list_models", "model_info", "register_model"]
