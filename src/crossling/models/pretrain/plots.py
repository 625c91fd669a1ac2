"""The pre-training experiment's figure: held-out loss against step per language, against the unigram baseline.

A model that has learnt anything predicts masked tokens better than the unigram-frequency baseline (the
cross-entropy of always guessing the training corpus's token frequencies); the curves show how far below that
line each model got and whether it was still improving when its step budget ran out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from crossling._utils.figures import new_figure, save_figure

__all__ = ["plot_validation_curves"]

_PANELS_PER_ROW = 4


def plot_validation_curves(out_dir: str | Path, model_names: list[str], languages: list[str], path: str | Path) -> Path:
    """One panel per language: held-out masked-token loss against step for the multilingual model (solid)
    and the language's monolingual control (dashed), with the unigram baseline as a grey line.

    Parameters
    ----------
    out_dir : path
        The experiment folder; each model's ``training_record.json`` holds its ``val_curve``
        (``[{"step": s, "<lang>": loss, ...}, ...]``) and ``unigram_loss``.
    model_names : list of str
        Folders to draw (``multilingual``, ``mono-<lang>``); a missing one is left out.
    languages : list of str
        One panel each, in this order.
    path : path ending in .png

    Returns
    -------
    Path
        The figure's path.
    """
    records = {}
    for name in model_names:
        record_path = Path(out_dir) / name / "training_record.json"
        if record_path.is_file():
            records[name] = json.loads(record_path.read_text(encoding="utf-8"))
    n_cols = min(len(languages), _PANELS_PER_ROW)
    n_rows = math.ceil(len(languages) / n_cols)
    figure = new_figure(2.6 * n_cols + 0.4, 2.2 * n_rows + 0.6)
    axes = figure.subplots(n_rows, n_cols, sharex=True, squeeze=False)
    for ax, lang in zip(axes.flat, languages):
        # E and the control are evaluated on the same held-out tokens, so they share one baseline.
        baseline = next((record["unigram_loss"][lang] for record in records.values() if lang in record["unigram_loss"]),
                        None)
        for record in records.values():
            if lang not in record["val_loss"]:
                continue
            curve = [(point["step"], point[lang]) for point in record["val_curve"] if lang in point]
            steps, losses = zip(*curve) if curve else ((), ())
            multilingual = record["architecture"] == "xlm-roberta"
            ax.plot(steps, losses, linestyle="-" if multilingual else "--",
                    color="#1f77b4" if multilingual else "#d62728", marker="." if len(steps) < 30 else None,
                    label="multilingual E" if multilingual else "control C")
        if baseline is not None:
            ax.axhline(baseline, color="#7f7f7f", linewidth=1, label="unigram baseline")
        ax.set_title(lang)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(languages):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("held-out loss (nats)")
    for ax in axes[-1, :]:
        ax.set_xlabel("step")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside upper center", ncol=3, fontsize="small")
    return save_figure(figure, path)
