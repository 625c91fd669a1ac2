"""Pre-training from scratch: one shared tokenizer, a multilingual model and monolingual controls.

One module per job:

- :mod:`~crossling.models.pretrain.config`: :class:`PretrainConfig` (the settings of ``crossling pretrain``),
  model sizes and their presets;
- :mod:`~crossling.models.pretrain.corpus`: the texts, read through a corpus spec, deduplicated, romanised,
  split and sampled;
- :mod:`~crossling.models.pretrain.tokenizer`: the shared SentencePiece-unigram tokenizer;
- :mod:`~crossling.models.pretrain.mlm`: the models, packed blocks, masking, the loss and its unigram baseline;
- :mod:`~crossling.models.pretrain.trainer`: training one model with checkpoints and exact resume;
- :mod:`~crossling.models.pretrain.experiment`: the experiment (every model, worker processes, the manifest);
- :mod:`~crossling.models.pretrain.progress`: one progress display per model;
- :mod:`~crossling.models.pretrain.plots` and :mod:`~crossling.models.pretrain.report`: the learning-curve
  figure and the report section.

Names load on first use, so that ``crossling --help`` (which reads :class:`PretrainConfig`) imports neither
torch nor matplotlib.
"""

from importlib import import_module

_WHERE = {
    "config": ["PRESETS", "PRESET_TRAINING", "ModelSize", "PretrainConfig", "PretrainCorpusOptions"],
    "corpus": ["PreparedCorpus", "corpus_texts", "prepare_corpus", "read_texts"],
    "tokenizer": ["SPECIAL_TOKENS", "train_tokenizer"],
    "mlm": ["IGNORE", "build_model", "init_unigram_bias", "mask_tokens", "mlm_loss", "pack_blocks",
            "unigram_cross_entropy", "unigram_log_probs"],
    "trainer": ["ModelResult", "TrainEvent", "TrainOptions", "read_model_result", "train_mlm"],
    "experiment": ["ExperimentResult", "pretrain_experiment"],
    "progress": ["TrainingBars"],
    "plots": ["plot_validation_curves"],
    "report": ["write_pretrain_section"],
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name in _MODULE_OF:
        return getattr(import_module(f"crossling.models.pretrain.{_MODULE_OF[name]}"), name)
    raise AttributeError(f"module 'crossling.models.pretrain' has no attribute {name!r}")
