"""``crossling pretrain``: a shared tokenizer, a multilingual model and one monolingual control per language."""

from __future__ import annotations

from pathlib import Path

import typer

from crossling.cli import app
from crossling.cli._build import config_command
from crossling.models.pretrain.config import PretrainConfig

__all__ = ["pretrain"]


@config_command(app, "pretrain", PretrainConfig)
def pretrain(config: PretrainConfig) -> None:
    """Pre-train a shared tokenizer, a multilingual model E (XLM-R) and one monolingual control per language (RoBERTa).

    Every model is a Hugging Face folder with training_record.json (loss curves, unigram baseline, data sizes,
    config, seed, versions); the experiment folder gets a table, a figure, manifest.json and a report section
    (see `crossling report`). Running the same command again resumes: finished models are kept and an
    interrupted one continues from its last checkpoint.
    """
    from crossling.models.pretrain.experiment import pretrain_experiment
    from crossling.models.pretrain.progress import TrainingBars

    out = Path(config.out)
    names = [name for name, _, _ in config.model_plan()]
    if (out / "config.yaml").is_file():
        done = [n for n in names if (out / n / "training_record.json").is_file()]
        running = [n for n in names if (out / f"{n}.ckpt" / "state.pt").is_file()]
        typer.echo(f"resuming {out}: {len(done)} of {len(names)} models finished"
                   + (f"; continuing {', '.join(running)} from its last checkpoint" if running else ""))
    typer.echo(f"{config.size} models {config.model_size()} on {config.corpus} for {', '.join(config.languages)}; "
               f"vocabulary {config.vocab_size}, lr {config.lr:g}, {config.max_steps} steps of {config.batch_size} "
               "blocks" + (f" ({config.multilingual_steps} for the multilingual model)"
                           if config.multilingual_steps else ""))
    bars = TrainingBars()
    try:
        result = pretrain_experiment(config, progress=bars)
    finally:
        bars.close()
    table = result.table()
    typer.echo(table[["model", "language", "val_loss", "unigram_loss", "best_step", "minutes", "tokens_per_second"]]
               .to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    typer.echo(f"models in {out} (tokenizer sha256 {result.tokenizer_sha256[:12]}; "
               f"{result.manifest['seconds']['total']:.0f} s)")
