"""Comparisons across factorization runs: how each language's signature changes from a baseline run to others.

Zhao, Ziser and Cohen (2023) compare runs of the study: the baseline models against models pre-trained with a
low-resource language, with Chinese and Japanese romanised (their Fig. 2b shows the original and romanised
violins side by side), or with a related set of languages only. :func:`compare_signatures` takes the average
signatures of two or more runs (their ``average_signatures`` tables) and gives

- ``combined``: every run's average signatures with a ``run`` column (the side-by-side violins);
- ``changes``: per (run, category, layer, language) present in the baseline and the run, the baseline's value,
  the run's and the change (run minus baseline);
- ``tests``: per (run, language), the Wilcoxon signed-rank test of its changes over the (category, layer)
  pairs both runs have (:func:`crossling.stats.wilcoxon_signed_rank`), with the Benjamini-Hochberg q-value over
  the languages of a run and the direction of a significant change.

Each run is its own fit, so a level shared by every language (e.g. a different scale of the slices) shows as a
change of every language; compare the languages' changes with each other as well as with zero.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crossling.exceptions import DegenerateInputWarning
from crossling.stats import WilcoxonResult, benjamini_hochberg, wilcoxon_signed_rank

__all__ = ["RunComparison", "compare_signatures"]

_KEYS = ["category", "layer", "language"]


@dataclass(frozen=True)
class RunComparison:
    """The tables of :func:`compare_signatures`.

    Attributes
    ----------
    combined : DataFrame
        run, category, layer, language, value: every run's average signatures, runs in the order given.
    changes : DataFrame
        run, category, layer, language, baseline_value, value, change (value - baseline_value); only the
        (category, layer, language) both runs have.
    tests : DataFrame
        run, language, n (pairs), mean_change, median_change, statistic (Wilcoxon W), pvalue, qvalue (BH over
        the languages of the run), significant (qvalue <= q) and direction ("higher", "lower" from the sign
        of the median change when significant, else "no change").
    baseline : str
        The run the others are compared with.
    runs : tuple of str
        Every run, baseline first.
    q : float
        The false discovery rate of the tests.
    """

    combined: pd.DataFrame
    changes: pd.DataFrame
    tests: pd.DataFrame
    baseline: str
    runs: tuple[str, ...]
    q: float

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by name (the names of the files a comparison writes).

        Returns
        -------
        dict of str to DataFrame
        """
        return {"combined": self.combined, "changes": self.changes, "tests": self.tests}


def compare_signatures(runs: Mapping[str, pd.DataFrame], *, baseline: str | None = None, q: float = 0.05
                       ) -> RunComparison:
    """Per-language changes of the average signature from a baseline run to each other run, with a test.

    Parameters
    ----------
    runs : mapping of str to DataFrame
        Run label -> its ``average_signatures`` table (columns ``category``, ``layer``, ``language``,
        ``value``), two or more runs, in the order to show them.
    baseline : str, optional
        The label of the run the others are compared with; default the first.
    q : float, default 0.05
        False discovery rate of the Benjamini-Hochberg correction over the languages of a run.

    Returns
    -------
    RunComparison

    Raises
    ------
    ValueError
        For fewer than two runs, an unknown baseline, a table without the columns or with several rows of
        one (category, layer, language), or runs that share no (category, layer, language) with the baseline.

    Warns
    -----
    DegenerateInputWarning
        For a language with fewer than 2 non-zero changes (its test is NaN).
    """
    if len(runs) < 2:
        raise ValueError(f"a comparison needs two or more runs, got {list(runs)}")
    labels = list(runs)
    baseline = labels[0] if baseline is None else baseline
    if baseline not in runs:
        raise ValueError(f"baseline {baseline!r} is not one of the runs {labels}")
    frames = []
    for label, table in runs.items():
        missing = [c for c in [*_KEYS, "value"] if c not in table.columns]
        if missing:
            raise ValueError(f"run {label!r} lacks column(s) {missing}")
        if table.duplicated(_KEYS).any():
            raise ValueError(f"run {label!r} has several rows for one (category, layer, language)")
        frames.append(table[[*_KEYS, "value"]].assign(run=label))
    combined = pd.concat(frames, ignore_index=True)[["run", *_KEYS, "value"]]
    base = runs[baseline][[*_KEYS, "value"]].rename(columns={"value": "baseline_value"})
    changes, tests = [], []
    for label in labels:
        if label == baseline:
            continue
        paired = base.merge(runs[label][[*_KEYS, "value"]], on=_KEYS, how="inner")
        if paired.empty:
            raise ValueError(f"run {label!r} shares no (category, layer, language) with the baseline {baseline!r}")
        paired.insert(0, "run", label)
        paired["change"] = paired["value"] - paired["baseline_value"]
        changes.append(paired)
        tests.append(_language_tests(paired, label, q))
    return RunComparison(combined, pd.concat(changes, ignore_index=True), pd.concat(tests, ignore_index=True),
                         baseline, (baseline, *[label for label in labels if label != baseline]), q)


def _language_tests(paired: pd.DataFrame, label: str, q: float) -> pd.DataFrame:
    """The Wilcoxon test of each language's changes in one run, BH over the languages."""
    rows = []
    for language, group in paired.groupby("language", sort=False):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DegenerateInputWarning)
            result = wilcoxon_signed_rank(group["value"].to_numpy(), group["baseline_value"].to_numpy())
        if caught:
            warnings.warn(f"run {label!r}, language {language!r}: {caught[0].message}", DegenerateInputWarning,
                          stacklevel=3)
        rows.append({"run": label, "language": language, **_renamed(result)})
    table = pd.DataFrame(rows)
    table["qvalue"] = benjamini_hochberg(table["pvalue"].to_numpy(), q=q).qvalues
    table["significant"] = table["qvalue"] <= q
    sign = np.sign(table["median_change"])
    table["direction"] = np.where(table["significant"] & (sign > 0), "higher",
                                  np.where(table["significant"] & (sign < 0), "lower", "no change"))
    return table


def _renamed(result: WilcoxonResult) -> dict[str, float]:
    return {"n": result.n, "mean_change": result.mean_difference, "median_change": result.median_difference,
            "statistic": result.statistic, "pvalue": result.pvalue}
