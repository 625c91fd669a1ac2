"""The joint-factorization study's statistics tables: the generic tests of :mod:`crossling.stats` applied per
language, category, layer, property, task or language group.

- :func:`trend_tests`: is a language's average signature monotone across layers, and which way? (Mann-Kendall
  with Sen's slope, Benjamini-Hochberg FDR over the languages of a category, the label from the corrected
  decision);
- :func:`property_correlations`, :func:`downstream_correlations`: does the average signature follow a
  language property (distinct characters, type-token ratio) or a downstream task score, across languages?
  :func:`data_size_correlations`: does it follow the number of words of the slice (per language and
  category)? :func:`mean_correlations`: each averaged over layers (Zhao, Ziser and Cohen 2023, Fig. 4);
- :func:`variance_sets`, :func:`group_variance_tests` and :func:`variance_tests`: do the signatures of a
  typologically diverse set of languages vary differently from those of a set of related languages? (the
  paper's chi-square test, two-sided, on signatures fitted per set, with the F-test beside it);
- :func:`signature_spread`: the spread of the average signature over languages per category and layer.

Every function takes tidy tables (one row per category, layer and language) and returns one; the missing-value
policy is that of :mod:`crossling.stats`. The language groups are the study's (:data:`DIVERSE_SET` and
:data:`RELATED_SETS` of :mod:`crossling.data.languages`), passed to the generic tests from here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from crossling.data.languages import DIVERSE_SET, RELATED_SETS
from crossling.exceptions import DegenerateInputWarning
from crossling.stats import (
    Alternative,
    PearsonResult,
    benjamini_hochberg,
    f_test,
    mann_kendall,
    pearson,
    variance_test,
)

__all__ = [
    "DIVERSE",
    "DIVERSE_SET",
    "RELATED_SETS",
    "data_size_correlations",
    "downstream_correlations",
    "group_variance_tests",
    "mean_correlations",
    "property_correlations",
    "signature_spread",
    "trend_tests",
    "variance_coverage",
    "variance_sets",
    "variance_tests",
]

DIVERSE = "diverse"
"""Name of the diverse set in a table of per-set signatures (``set`` column)."""


def _require_columns(df: pd.DataFrame, required: Sequence[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it has {list(df.columns)}")


def _require_unique(df: pd.DataFrame, keys: Sequence[str], name: str) -> None:
    duplicated = df.duplicated(list(keys), keep=False)
    if duplicated.any():
        example = df.loc[duplicated, list(keys)].iloc[0].to_dict()
        raise ValueError(f"{name} has several rows for the same {list(keys)}, e.g. {example}")


def _signature_keys(signatures: pd.DataFrame) -> list[str]:
    """Grouping columns of a signature table: (category,) layer; category is optional."""
    return [c for c in ("category", "layer") if c in signatures.columns]


# --------------------------------------------------------------------------------------------------
# Trends


def trend_tests(table: pd.DataFrame, *, q: float = 0.05, alpha: float = 0.05) -> pd.DataFrame:
    """Mann-Kendall test of each language's average signature across layers, with FDR over languages.

    Parameters
    ----------
    table : DataFrame
        Tidy table with columns ``language``, ``layer`` (numeric), ``value`` (the language's average
        signature at that layer) and optionally ``category``. One row per (category, language, layer).
    q : float, default 0.05
        False discovery rate of the Benjamini-Hochberg correction, applied over the languages of each
        category (one family of tests per category).
    alpha : float, default 0.05
        Level of the uncorrected label ``trend_uncorrected``.

    Returns
    -------
    DataFrame
        One row per (category, language), sorted by them: the fields of
        :class:`~crossling.stats.MannKendallResult` with its label (at the uncorrected ``alpha``) renamed
        ``trend_uncorrected``; ``direction`` ("increasing" for S > 0, "decreasing" for S < 0, else "none");
        ``qvalue`` (BH adjusted p-value); ``significant`` (``qvalue <= q``) and ``trend``, the label from that
        corrected decision: ``direction`` when significant, else "no trend". ``attrs`` records the method
        and q.

    Raises
    ------
    ValueError
        For a table without the columns, with several rows of one (category, language, layer), or empty.
    """
    _require_columns(table, ["language", "layer", "value"], "table")
    by = ["category"] if "category" in table.columns else []
    _require_unique(table, [*by, "language", "layer"], "table")
    if table.empty:
        raise ValueError("table is empty: there is no series to test")
    rows = []
    for key, group in table.sort_values("layer").groupby([*by, "language"], sort=True):
        result = mann_kendall(group["value"].to_numpy(), positions=group["layer"].to_numpy(), alpha=alpha)
        rows.append({**dict(zip([*by, "language"], key)), **result._asdict()})
    out = pd.DataFrame(rows)
    out["qvalue"] = np.nan
    families = [group.index for _, group in out.groupby(by)] if by else [out.index]
    for index in families:
        out.loc[index, "qvalue"] = benjamini_hochberg(out.loc[index, "pvalue"].to_numpy(), q=q).qvalues
    out["significant"] = out["qvalue"] <= q
    out["direction"] = np.select([out["statistic"] > 0, out["statistic"] < 0], ["increasing", "decreasing"], "none")
    out["trend_uncorrected"] = out["trend"]
    out["trend"] = np.where(out["significant"], out["direction"], "no trend")
    out.attrs.update(test="Mann-Kendall (pymannkendall.original_test), Sen's slope per layer",
                     correction="Benjamini-Hochberg over languages within each category; trend from the corrected "
                                "decision with the sign of S", q=q, alpha=alpha)
    return out


# --------------------------------------------------------------------------------------------------
# Correlations


def _correlate(signatures: pd.DataFrame, other: pd.DataFrame, *, by: str, value: str) -> pd.DataFrame:
    """Pearson r of the signature value with ``other[value]`` across languages, per keys x ``by``."""
    _require_columns(signatures, ["language", "layer", "value"], "signatures")
    _require_columns(other, ["language", by, value], "the second table")
    keys = _signature_keys(signatures)
    _require_unique(signatures, [*keys, "language"], "signatures")
    _require_unique(other, ["language", by], "the second table")
    merged = signatures[[*keys, "language", "value"]].merge(
        other[["language", by, value]].rename(columns={value: "_other"}), on="language", how="inner"
    )
    rows = []
    for key, group in merged.groupby([*keys, by], sort=True):
        result = pearson(group["value"].to_numpy(), group["_other"].to_numpy())
        rows.append({**dict(zip([*keys, by], key)), **result._asdict()})
    return pd.DataFrame(rows, columns=[*keys, by, *PearsonResult._fields])


def property_correlations(signatures: pd.DataFrame, properties: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlation of the average signature with language properties, across languages.

    Parameters
    ----------
    signatures : DataFrame
        Columns ``language``, ``layer``, ``value`` (average signature) and optionally ``category``.
    properties : DataFrame
        Columns ``language``, ``property`` (e.g. ``"distinct_chars_99.9"``, ``"type_token_ratio"``), ``value``:
        one value per language (for the number of words of each slice, see :func:`data_size_correlations`).

    Returns
    -------
    DataFrame
        One row per (category, layer, property), sorted by them: ``statistic`` (Pearson r), ``pvalue``,
        ``n`` (number of languages with both values). Languages absent from either table are left out.
    """
    return _correlate(signatures, properties, by="property", value="value")


def downstream_correlations(signatures: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlation of the average signature with downstream task scores (e.g. XTREME).

    Parameters
    ----------
    signatures : DataFrame
        Columns ``language``, ``layer``, ``value`` (average signature) and optionally ``category``.
    scores : DataFrame
        Columns ``language``, ``task``, ``score``.

    Returns
    -------
    DataFrame
        One row per (category, layer, task): ``statistic`` (Pearson r), ``pvalue``, ``n``.
    """
    return _correlate(signatures, scores, by="task", value="score")


def data_size_correlations(signatures: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlation of the average signature with the number of words of its slice, across languages.

    The data size of Zhao, Ziser and Cohen (2023, Fig. 3) is per language and category: the words behind
    Omega_l of that category, not a language's corpus size.

    Parameters
    ----------
    signatures : DataFrame
        Columns ``language``, ``layer``, ``value`` (average signature), ``n_words`` (words of the slice) and
        optionally ``category``.

    Returns
    -------
    DataFrame
        One row per (category, layer): ``property`` ("data_size"), ``statistic`` (Pearson r), ``pvalue``, ``n``.

    Raises
    ------
    ValueError
        For a table without the columns or with several rows of one (category, layer, language).
    """
    _require_columns(signatures, ["language", "layer", "value", "n_words"], "signatures")
    keys = _signature_keys(signatures)
    _require_unique(signatures, [*keys, "language"], "signatures")
    rows = []
    for key, group in signatures.groupby(keys, sort=True):
        result = pearson(group["value"].to_numpy(), group["n_words"].to_numpy(dtype=np.float64))
        rows.append({**dict(zip(keys, key if isinstance(key, tuple) else (key,))), "property": "data_size",
                     **result._asdict()})
    return pd.DataFrame(rows, columns=[*keys, "property", *PearsonResult._fields])


def mean_correlations(correlations: pd.DataFrame) -> pd.DataFrame:
    """Correlations averaged over layers, per category and property or task (Zhao, Ziser and Cohen 2023, Fig. 4).

    Parameters
    ----------
    correlations : DataFrame
        Columns ``layer``, ``statistic`` (Pearson r), a ``property`` or ``task`` column, and optionally
        ``category`` (:func:`property_correlations`, :func:`data_size_correlations`,
        :func:`downstream_correlations`).

    Returns
    -------
    DataFrame
        One row per (category, property or task): ``mean_r`` (the plain mean of r over the layers where it
        is defined), ``min_r``, ``max_r``, ``n_layers`` (layers with a defined r) and ``significant_layers``
        (layers with p < 0.05).

    Raises
    ------
    ValueError
        For a table without ``layer``, ``statistic``, and a ``property`` or ``task`` column.
    """
    against = "property" if "property" in correlations.columns else "task"
    _require_columns(correlations, ["layer", "statistic", against, "pvalue"], "correlations")
    keys = [c for c in ("category", against) if c in correlations.columns]
    grouped = correlations.groupby(keys, sort=False)
    out = grouped["statistic"].agg(mean_r="mean", min_r="min", max_r="max", n_layers="count")
    out["significant_layers"] = grouped["pvalue"].apply(lambda p: int((p < 0.05).sum()))
    return out.reset_index()


def signature_spread(signatures: pd.DataFrame) -> pd.DataFrame:
    """How far apart the languages' average signatures are, per category and layer.

    Parameters
    ----------
    signatures : DataFrame
        Columns ``language``, ``layer``, ``value`` (average signature) and optionally ``category``.

    Returns
    -------
    DataFrame
        One row per (category, layer), in the table's order: ``n_languages``, ``mean``, ``std`` (ddof = 1),
        ``min``, ``max``, ``range`` (max - min), ``cv`` (std / mean), ``lowest`` and ``highest`` (the
        languages at the extremes).

    Raises
    ------
    ValueError
        For a table without the columns.
    """
    _require_columns(signatures, ["language", "layer", "value"], "signatures")
    keys = _signature_keys(signatures)
    rows = []
    for key, group in signatures.groupby(keys, sort=False):
        values = group.set_index("language")["value"].dropna()
        std = float(values.std(ddof=1)) if len(values) > 1 else np.nan
        rows.append({**dict(zip(keys, key if isinstance(key, tuple) else (key,))), "n_languages": len(values),
                     "mean": float(values.mean()), "std": std, "min": float(values.min()),
                     "max": float(values.max()), "range": float(values.max() - values.min()),
                     "cv": std / float(values.mean()) if values.mean() else np.nan,
                     "lowest": values.idxmin(), "highest": values.idxmax()})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Variance of the diverse set against the related sets


def variance_sets(
    languages: Sequence[str],
    *,
    diverse: Sequence[str] = DIVERSE_SET,
    related: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, list[str]]:
    """The language sets of the variance test with 2 or more of the given languages.

    Parameters
    ----------
    languages : sequence of str
        The languages at hand (of one fit, or of the analysis), in order.
    diverse : sequence of str, default :data:`DIVERSE_SET`
    related : mapping of str to sequence of str, optional
        Default :data:`RELATED_SETS`.

    Returns
    -------
    dict of str to list of str
        :data:`DIVERSE` and each related set's name -> its members among ``languages`` (in the order of
        ``languages``); only sets with 2 or more. Empty when the diverse set or every related set has fewer
        (no test is possible).
    """
    related = RELATED_SETS if related is None else related
    sets = {name: [lang for lang in languages if lang in members]
            for name, members in {DIVERSE: diverse, **related}.items()}
    sets = {name: members for name, members in sets.items() if len(members) >= 2}
    return sets if DIVERSE in sets and len(sets) > 1 else {}


def group_variance_tests(
    signatures: pd.DataFrame,
    *,
    layers: Sequence[int] | None = None,
    diverse: Sequence[str] = DIVERSE_SET,
    related: Mapping[str, Sequence[str]] | None = None,
    alternative: Alternative = "two-sided",
) -> pd.DataFrame:
    """Variance of the diverse set against each related set's, per category and layer: chi-square and F-test.

    Parameters
    ----------
    signatures : DataFrame
        Columns ``language``, ``layer``, ``value`` (average signature) and optionally ``category``. With a
        ``set`` column (:data:`DIVERSE` or a related set's name), each set's values are taken from its own
        rows: signatures fitted per set, as Zhao, Ziser and Cohen (2023) do. Without it, every set takes its
        languages' values from the one table (signatures of the joint fit over all languages).
    layers : sequence of int, optional
        Layers to test (default: all layers in the table).
    diverse : sequence of str, default :data:`DIVERSE_SET`
        Languages of the tested set.
    related : mapping of str to sequence of str, optional
        Reference sets by name (default :data:`RELATED_SETS`: Germanic, Romance, Slavic).
    alternative : {"two-sided", "greater", "less"}, default "two-sided"
        Of both tests. "two-sided": do the variances differ? (the paper's question). "greater": does the diverse
        set vary more? (the earlier default).

    Returns
    -------
    DataFrame
        One row per (category, layer, related set): ``signatures`` ("per set" or "joint"); the fields of
        :class:`~crossling.stats.VarianceTestResult` (the chi-square test of the diverse set's variance with
        the related set's variance taken as known, the paper's test: ``statistic``, ``pvalue``, ``df``,
        ``variance``, ``reference_variance``, ``n``, ``alternative``); the F-test of the two variances
        (:func:`crossling.stats.f_test`, which also counts the related set's sampling error): ``f_statistic``,
        ``f_pvalue``; ``n_reference`` (related languages with a value) and the languages used
        (``diverse_languages``, ``related_languages``, comma-separated; missing languages are left out).

    Raises
    ------
    ValueError
        For a table without the columns or with several rows of one (category, layer, set, language), or
        layers the table does not have.

    Notes
    -----
    The chi-square statistic is (n - 1) s^2 / sigma0^2 with sigma0^2 the related set's sample variance
    (ddof = 1) treated as the known null variance: it ignores that variance's own sampling error, so it is
    anti-conservative for small related sets (the F-test is not). Fewer than 2 languages with a value in
    either set give NaN with a :class:`~crossling.exceptions.DegenerateInputWarning`.
    """
    _require_columns(signatures, ["language", "layer", "value"], "signatures")
    keys = _signature_keys(signatures)
    per_set = "set" in signatures.columns
    _require_unique(signatures, [*keys, *(["set"] if per_set else []), "language"], "signatures")
    related = RELATED_SETS if related is None else related
    table = signatures if layers is None else signatures[signatures["layer"].isin(list(layers))]
    if layers is not None:
        absent = sorted(set(layers) - set(signatures["layer"]))
        if absent:
            raise ValueError(f"layers {absent} are not in the signature table")

    def values_of(group: pd.DataFrame, name: str) -> pd.Series:
        rows = group[group["set"] == name] if per_set else group
        return rows.set_index("language")["value"]

    rows = []
    for key, group in table.groupby(keys, sort=True):
        at = values_of(group, DIVERSE)
        tested = [lang for lang in diverse if lang in at.index]
        sample = at[tested].to_numpy(dtype=np.float64)
        for name, members in related.items():
            values = values_of(group, name)
            present = [lang for lang in members if lang in values.index]
            reference = values[present].to_numpy(dtype=np.float64)
            n_reference = int(np.sum(~np.isnan(reference)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DegenerateInputWarning)  # one warning below says it all
                chi2 = variance_test(sample, float(np.nanvar(reference, ddof=1)) if n_reference >= 2 else np.nan,
                                     alternative=alternative)
                f = f_test(sample, reference, alternative=alternative)
            n_sample = int(np.sum(~np.isnan(sample)))
            if min(n_sample, n_reference) < 2:
                warnings.warn(f"the diverse set has {n_sample} and related set {name} {n_reference} language(s) "
                              f"with a value at {dict(zip(keys, key))}; a variance needs 2, so the test is NaN",
                              DegenerateInputWarning, stacklevel=2)
            rows.append({**dict(zip(keys, key)), "related_set": name, "signatures": "per set" if per_set else "joint",
                         **chi2._asdict(), "f_statistic": f.statistic, "f_pvalue": f.pvalue,
                         "n_reference": n_reference,
                         "diverse_languages": ",".join(tested), "related_languages": ",".join(present)})
    return pd.DataFrame(rows)


def variance_tests(
    signatures: pd.DataFrame,
    languages: Sequence[str],
    *,
    layers: Sequence[int] | None = None,
    diverse: Sequence[str] = DIVERSE_SET,
    related: Mapping[str, Sequence[str]] | None = None,
    alternative: Alternative = "two-sided",
) -> tuple[pd.DataFrame | None, str]:
    """The study's variance-test table, when the analysed languages cover the groups, else why not.

    Parameters
    ----------
    signatures : DataFrame
        Average signatures, joint or per set, as for :func:`group_variance_tests`.
    languages : sequence of str
        The analysed languages.
    layers : sequence of int, optional
        Layers to test (default: all layers in the table).
    diverse : sequence of str, default :data:`DIVERSE_SET`
    related : mapping of str to sequence of str, optional
        Default :data:`RELATED_SETS`; only the sets with 2 or more analysed languages are tested.
    alternative : {"two-sided", "greater", "less"}, default "two-sided"

    Returns
    -------
    table : DataFrame or None
        :func:`group_variance_tests` over the related sets with 2 or more analysed languages; None when the
        analysed languages hold fewer than 2 of the diverse set or no such related set.
    reason : str
        Why the table is None ("" otherwise).
    """
    reason = variance_coverage(languages, diverse=diverse, related=related)
    if reason:
        return None, reason
    related = RELATED_SETS if related is None else related
    testable = {name: members for name, members in related.items()
                if sum(lang in languages for lang in members) >= 2}
    return group_variance_tests(signatures, layers=layers, diverse=diverse, related=testable,
                                alternative=alternative), ""


def variance_coverage(
    languages: Sequence[str],
    *,
    diverse: Sequence[str] = DIVERSE_SET,
    related: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """Why the languages cannot be tested for variance ("" when they can).

    Parameters
    ----------
    languages : sequence of str
        The analysed languages.
    diverse : sequence of str, default :data:`DIVERSE_SET`
    related : mapping of str to sequence of str, optional
        Default :data:`RELATED_SETS`.

    Returns
    -------
    str
        "" when 2 or more languages are of the diverse set and 2 or more of some related set; otherwise
        which group falls short.
    """
    related = RELATED_SETS if related is None else related
    covered = [lang for lang in diverse if lang in languages]
    problems = []
    if len(covered) < 2:
        problems.append(f"{len(covered)} language(s) of the diverse set {list(diverse)}")
    if not any(sum(lang in languages for lang in members) >= 2 for members in related.values()):
        problems.append("no related set (" + ", ".join(related) + ") with 2 or more languages")
    return ("the languages cover " + " and ".join(problems) + "; the test needs 2 or more in each group"
            if problems else "")
