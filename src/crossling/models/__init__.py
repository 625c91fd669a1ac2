"""Models: loading Hugging Face models and tokenizers, importing bundled models, pre-training."""

from crossling.models.loading import LoadedModel, ModelLoadError, load_model, model_kind

__all__ = ["LoadedModel", "ModelLoadError", "load_model", "model_kind"]
