"""The pre-training experiment's part of ``crossling report``: learning curves against the baseline, a loss table.

The section shows the figure of :func:`crossling.models.pretrain.plots.plot_validation_curves`, the table of
final held-out losses (:meth:`~crossling.models.pretrain.experiment.ExperimentResult.table`) and, as its
provenance, the experiment's ``manifest.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from crossling._utils.io import write_table
from crossling.models.pretrain.plots import plot_validation_curves
from crossling.report import write_section

if TYPE_CHECKING:
    from crossling.models.pretrain.experiment import ExperimentResult

__all__ = ["write_pretrain_section"]


def write_pretrain_section(result: ExperimentResult) -> Path:
    """Write ``training.parquet``/``.csv``, ``figures/validation_loss.png`` and the report section into
    ``result.out_dir``, so that ``crossling report`` on a folder holding the experiment shows it.

    Parameters
    ----------
    result : ExperimentResult
        The experiment; its ``manifest.json`` (written after this section) is the section's provenance.

    Returns
    -------
    Path
        The section's ``report.json``.
    """
    out = Path(result.out_dir)
    table = result.table()
    write_table(table, out, "training")
    # The controls come in the experiment's language order; E's record lists its languages sorted.
    controls = [lang for model in result.models.values() if model.architecture == "roberta" for lang in model.languages]
    languages = list(dict.fromkeys(controls + list(table["language"])))
    (out / "figures").mkdir(exist_ok=True)
    figure = plot_validation_curves(out, list(result.models), languages, out / "figures" / "validation_loss.png")
    gap = table["val_loss"] - table["unigram_loss"]
    is_e = table["architecture"] == "xlm-roberta"
    spans = [f"{label} {gap[rows].min():+.2f} to {gap[rows].max():+.2f}"
             for label, rows in (("E", is_e), ("controls", ~is_e)) if rows.any()]
    summary = (f"{len(result.models)} models pre-trained from scratch with one shared tokenizer "
               f"(sha256 {result.tokenizer_sha256[:12]}) on {', '.join(languages)}. Held-out masked-token loss minus "
               f"the unigram-frequency baseline, in nats (negative is better than the baseline): {'; '.join(spans)}.")
    return write_section(out, {
        "title": "Pre-training: the multilingual model and its monolingual controls",
        "summary": summary,
        "figures": [{
            "file": str(figure.relative_to(out)),
            "caption": "Held-out masked-token loss during training",
            "reading": "One panel per language. The x axis is the optimiser step, the y axis the cross-entropy (nats) "
                       "of predicting masked tokens of held-out text in that language; lower is better. The grey "
                       "line is the unigram baseline, the loss of always guessing the corpus's token frequencies: "
                       "a curve below it means the model uses context. Solid: the multilingual model E, which "
                       "reads every language; dashed: the language's monolingual control. A curve still falling "
                       "at its last step would go lower with a larger step budget."}],
        "tables": [{"file": "training.parquet", "caption": "Final held-out loss per model and language, with the "
                    "unigram baseline, steps and speed", "max_rows": 40}],
        "provenance": "manifest.json",
    })
