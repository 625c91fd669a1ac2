"""Published per-language downstream results of multilingual models, bundled with crossling.

The joint-factorization study correlates each language's average signature with the model's downstream
performance in that language (Zhao, Ziser and Cohen 2023, Table 1). These are the published zero-shot
cross-lingual transfer results of the models such studies analyse, copied from their source (named in the data
file ``downstream.tsv`` and in :data:`SOURCE`), so the correlation runs without a file of the user's.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd

from crossling.exceptions import ConfigError

__all__ = ["MODELS", "SOURCE", "downstream_scores"]

MODELS = ("mbert", "xlmr-base", "xlmr-large")
SOURCE = ("Conneau et al. (2020), Unsupervised Cross-lingual Representation Learning at Scale, ACL 2020: Table 1 "
          "(XNLI accuracy, cross-lingual transfer) and Table 3 (MLQA F1)")


@cache
def _table() -> pd.DataFrame:
    with resources.files("crossling.data").joinpath("downstream.tsv").open(encoding="utf-8") as fh:
        return pd.read_csv(fh, sep="\t", comment="#")


def downstream_scores(model: str) -> pd.DataFrame:
    """The bundled per-language results of one model.

    Parameters
    ----------
    model : {"mbert", "xlmr-base", "xlmr-large"}
        Multilingual BERT, XLM-R base or XLM-R large.

    Returns
    -------
    pandas.DataFrame
        Columns ``language, task, score``: XNLI accuracy and MLQA F1, in percent, for every language the source
        reports (:data:`SOURCE`).

    Raises
    ------
    ConfigError
        For a model that is not bundled.
    """
    if model not in MODELS:
        raise ConfigError(f"no bundled downstream results for {model!r}; bundled: {', '.join(MODELS)}")
    table = _table()
    return table.loc[table["model"] == model, ["language", "task", "score"]].reset_index(drop=True)
