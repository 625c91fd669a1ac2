"""Models: loading Hugging Face models and tokenizers, importing bundled models, pre-training.

Names load on first use, so that commands which never touch a model (``--help``) do not import torch.
"""

from importlib import import_module

__all__ = ["LoadedModel", "load_model", "model_kind"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(import_module("crossling.models.loading"), name)
    raise AttributeError(f"module 'crossling.models' has no attribute {name!r}")
