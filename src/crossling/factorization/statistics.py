"""The joint-factorization study's statistics tables: the generic tests of :mod:`crossling.stats` applied per
language, category, layer, property, task or language group.

- :func:`trend_tests`: is a language's average signature monotone across layers? (Mann-Kendall with Sen's
  slope, Benjamini-Hochberg FDR over the languages of a category);
- :func:`property_correlations`, :func:`downstream_correlations`: does the average signature follow a
  language property (distinct characters, type-token ratio, data size) or a downstream task score, across
  languages?
- :func:`group_variance_tests` and :func:`variance_tests`: do the signatures of a typologically diverse set
  of languages vary more than those of a set of related languages (chi-square test of one variance)?

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
from crossling.stats import Alternative, PearsonResult, benjamini_hochberg, mann_kendall, pearson, variance_test

__all__ = [
    "DIVERSE_SET",
    "RELATED_SETS",
    "downstream_correlations",
    "group_variance_tests",
    "property_correlations",
    "trend_tests",
    "variance_tests",
]


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
        Level of the uncorrected ``trend`` label of :func:`crossling.stats.mann_kendall`.

    Returns
    -------
    DataFrame
        One row per (category, language), sorted by them: the fields of
        :class:`~crossling.stats.MannKendallResult`, ``qvalue`` (BH adjusted p-value) and ``significant``
        (``qvalue <= q``). ``attrs`` records the method and q.

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
    out.attrs.update(test="Mann-Kendall (pymannkendall.original_test), Sen's slope per layer",
                     correction="Benjamini-Hochberg over languages within each category", q=q, alpha=alpha)
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
        Columns ``language``, ``property`` (e.g. ``"distinct_chars_99.9"``, ``"type_token_ratio"``,
        ``"data_size"``), ``value``.

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


# --------------------------------------------------------------------------------------------------
# Variance of the diverse set against the related sets


def group_variance_tests(
    signatures: pd.DataFrame,
    *,
    layers: Sequence[int] | None = None,
    diverse: Sequence[str] = DIVERSE_SET,
    related: Mapping[str, Sequence[str]] | None = None,
    alternative: Alternative = "greater",
) -> pd.DataFrame:
    """Chi-square test of the diverse set's variance against each related set's, per category and layer.

    Parameters
    ----------
    signatures : DataFrame
        Columns ``language``, ``layer``, ``value`` (average signature) and optionally ``category``.
    layers : sequence of int, optional
        Layers to test (default: all layers in the table).
    diverse : sequence of str, default :data:`DIVERSE_SET`
        Languages of the tested set.
    related : mapping of str to sequence of str, optional
        Reference sets by name (default :data:`RELATED_SETS`: Germanic, Romance, Slavic).
    alternative : {"greater", "less", "two-sided"}, default "greater"
        See :func:`crossling.stats.variance_test`; "greater" asks whether the diverse set varies more.

    Returns
    -------
    DataFrame
        One row per (category, layer, related set): the fields of
        :class:`~crossling.stats.VarianceTestResult`, with ``n_reference``, the number of related languages
        present, and the languages actually used (``diverse_languages``, ``related_languages``,
        comma-separated; missing languages are left out).

    Raises
    ------
    ValueError
        For a table without the columns or with several rows of one (category, layer, language), or layers
        the table does not have.

    Notes
    -----
    sigma0^2 is the related set's sample variance (ddof = 1), treated as the known null variance (the
    one-sample test the study describes; it ignores the related set's own sampling error, so it is
    anti-conservative for small related sets). Fewer than 2 related languages present give NaN with a
    :class:`~crossling.exceptions.DegenerateInputWarning`.
    """
    _require_columns(signatures, ["language", "layer", "value"], "signatures")
    keys = _signature_keys(signatures)
    _require_unique(signatures, [*keys, "language"], "signatures")
    related = RELATED_SETS if related is None else related
    table = signatures if layers is None else signatures[signatures["layer"].isin(list(layers))]
    if layers is not None:
        absent = sorted(set(layers) - set(signatures["layer"]))
        if absent:
            raise ValueError(f"layers {absent} are not in the signature table")
    rows = []
    for key, group in table.groupby(keys, sort=True):
        values = group.set_index("language")["value"]
        tested = [lang for lang in diverse if lang in values.index]
        for name, members in related.items():
            present = [lang for lang in members if lang in values.index]
            reference = values[present].to_numpy(dtype=np.float64)
            sample = values[tested].to_numpy(dtype=np.float64)
            n_reference = int(np.sum(~np.isnan(reference)))
            if n_reference < 2:
                warnings.warn(f"related set {name} has {n_reference} language(s) with a value at "
                              f"{dict(zip(keys, key))}; its variance is undefined and the test is NaN",
                              DegenerateInputWarning, stacklevel=2)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DegenerateInputWarning)
                    result = variance_test(sample, float("nan"), alternative=alternative)
            else:
                result = variance_test(sample, float(np.nanvar(reference, ddof=1)), alternative=alternative)
            rows.append({**dict(zip(keys, key)), "related_set": name, **result._asdict(),
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
) -> tuple[pd.DataFrame | None, str]:
    """The study's variance-test table, when the analysed languages cover the groups, else why not.

    Parameters
    ----------
    signatures : DataFrame
        Average signatures, as for :func:`group_variance_tests`.
    languages : sequence of str
        The analysed languages.
    layers : sequence of int, optional
        Layers to test (default: all layers in the table).
    diverse : sequence of str, default :data:`DIVERSE_SET`
    related : mapping of str to sequence of str, optional
        Default :data:`RELATED_SETS`; only the sets with 2 or more analysed languages are tested.

    Returns
    -------
    table : DataFrame or None
        :func:`group_variance_tests` over the related sets with 2 or more analysed languages; None when the
        analysed languages hold fewer than 2 of the diverse set or no such related set.
    reason : str
        Why the table is None ("" otherwise).
    """
    related = RELATED_SETS if related is None else related
    covered = [lang for lang in diverse if lang in languages]
    testable = {name: members for name, members in related.items()
                if sum(lang in languages for lang in members) >= 2}
    problems = []
    if len(covered) < 2:
        problems.append(f"{len(covered)} language(s) of the diverse set {list(diverse)}")
    if not testable:
        problems.append("no related set (" + ", ".join(related) + ") with 2 or more languages")
    if problems:
        return None, "the languages cover " + " and ".join(problems) + "; the test needs 2 or more in each group"
    return group_variance_tests(signatures, layers=layers, diverse=diverse, related=testable), ""
