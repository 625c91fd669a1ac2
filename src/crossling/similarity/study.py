"""The cross-lingual similarity study (Del and Fishel, 2022): every index, every language pair, every layer.

``crossling similarity`` reads a parallel corpus, extracts pooled sentence representations of every language
from all hidden states in one pass per language (cached in vector stores,
:func:`crossling.extraction.store.extract_to_store`), and computes each index for each language pair and layer,
each with a null baseline and a confidence interval:

=================  ========  ==========================================================================
index name         reads     index (all similarities, 1 = alike)
=================  ========  ==========================================================================
``anc``            moments   average neuron-wise |correlation|, :func:`~crossling.similarity.anc` (the signed
                             mean, which Del and Fishel's code also reports, is in the details)
``cka``            moments   linear CKA, biased HSIC, :func:`~crossling.similarity.linear_cka`
``cka_debiased``   moments   linear CKA, unbiased HSIC (row-norm statistics, :class:`RowNormMoments`)
``cca``            moments   canonical correlations summarised by ``cca_summary``, :func:`~crossling.similarity.cca`
``svcca``          moments   :func:`~crossling.similarity.svcca`
``pwcca``          moments   :func:`~crossling.similarity.pwcca` (weights on the pair's first language)
``rbf_cka``        vectors   RBF-kernel CKA, :func:`~crossling.similarity.rbf_cka`
``matching``       vectors   top-1 translation retrieval accuracy, X -> Y by default,
                             :func:`~crossling.similarity.retrieval_accuracy`
=================  ========  ==========================================================================

Every convention on which the paper, its code and the textbook differ is an option of :class:`IndexOptions`,
and the table's ``definition`` column says which one each value is.

Noise: each value comes with a shuffled-pairing null (the same sentences with translations deranged,
:mod:`crossling.similarity.baseline`; for matching the exact expectation 1/n) and a delete-a-group jackknife
interval over contiguous shards (:mod:`crossling.similarity.jackknife`); ``beyond_null`` says whether the
value rises above its null by more than the two uncertainties allow. Both are cheap: moment indices never
form an n x n matrix, the null costs one O(n p q) pass per permutation and the interval a few merges and
evaluations per shard (see :class:`UncertaintyOptions`).

The moment-based indices stream the stores' rows in chunks into a :class:`crossling.Moments` per shard, pair
and layer; only RBF CKA and matching read the vectors whole. Each (layer, pair) is one task of an engine
(:mod:`crossling.engine`), values, nulls and jackknife together: the local engine runs them here, layers the
outer loop and pairs the inner one, so a language's factorisations (CCA's whitening, SVCCA's principal
directions, and those of its jackknife replicates, memoised by content) are computed once per layer and
shared by every pair it is in; a Ray engine runs them on the cluster's workers (which read the stores from
the shared path), and the driver puts the rows back in the same order, so the tables are the same.

Rows are paired by sentence id: every store must list the same sentence ids in the same order
(:func:`check_aligned`), which :func:`crossling.data.pud.read_pud` and the aligned text readers guarantee.
Outputs (:func:`crossling.similarity.run.run_similarity`): a tidy table ``similarity`` (model, layer, pair,
lang_x, lang_y, index, definition, value, se, low, high, null, null_sd, beyond_null, n, note), per-index
diagnostics, the per-layer means, an ANC matrix of all language pairs at one layer, the per-neuron ANC
breakdown, figures, ``manifest.json`` and a ``report.json`` section.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, ClassVar, Literal, Optional

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import stats as scipy_stats

from crossling._utils.labels import model_label, pair_label
from crossling.config import resolve_layers
from crossling.engine import Engine, LocalEngine, Shared, in_order
from crossling.exceptions import AlignmentError, ConfigError, DataLossWarning, DegenerateInputWarning
from crossling.similarity.baseline import derangements, null_summary, shuffled_stats, warn_null_reach
from crossling.similarity.canonical import LEADING_SHARE, CCAResult, cca, pwcca, svcca
from crossling.similarity.cka import CKAResult, linear_cka, rbf_cka
from crossling.similarity.jackknife import jackknife_interval, merge_all, shard_bounds, shard_stats
from crossling.similarity.neuronwise import ANCResult, anc
from crossling.similarity.retrieval import RetrievalResult, retrieval_accuracy

__all__ = [
    "DEFAULT_INDICES",
    "INDICES",
    "IndexOptions",
    "SimilarityResult",
    "UncertaintyOptions",
    "check_aligned",
    "compute_similarity",
    "parse_indices",
    "parse_pairs",
]


class IndexOptions(BaseModel):
    """Settings of the indices (each index reads only its own; all are recorded in the provenance).

    Every convention on which Del and Fishel's paper (2022), the code they ran and the textbook differ is an
    option here; the default is named with its source.

    Parameters
    ----------
    anc_absolute : bool, default True
        ``anc`` averages ``|r_i|`` (Del and Fishel 2022); False averages the signed correlations. Both means
        are in the details table either way (``mean_abs_r``, ``mean_r``).
    cca_summary : {"mean", "mean_squared", "leading"}, default "mean"
        How CCA and SVCCA summarise the canonical correlations: ``mean`` of rho (Raghu et al. 2017),
        ``mean_squared`` (Del and Fishel 2022, Eq. 1), or ``leading``: the mean of the leading correlations
        reaching 98% of their sum (google/svcca, the code Del and Fishel ran).
    ridge : float or None, default None
        Relative ridge of CCA, SVCCA and PWCCA; None: none unless there are too few sentences for the
        dimensions, then :data:`crossling.similarity.DEFAULT_RIDGE` with a warning (see :func:`cca`).
    svcca_variance : float, default 0.99
        SVCCA keeps the top principal directions explaining this share of each side's variance (Raghu et
        al. 2017).
    svcca_dims : int, optional
        SVCCA keeps exactly this many directions instead (Del and Fishel's code used 20).
    pwcca_weights : {"morcos", "uncentred"}, default "morcos"
        PWCCA's projection weights: from the centred neurons (Morcos et al. 2018), or google/svcca's
        uncentred weighting that Del and Fishel ran (not translation invariant; up to 0.125 higher).
    rbf_sigma : float, default 0.8
        RBF CKA bandwidth as a multiple of the median pairwise distance (Kornblith et al. 2019).
    metric : {"cosine", "euclidean"}, default "cosine"
        Similarity of the matching (retrieval) index.
    matching_direction : {"x_to_y", "both"}, default "x_to_y"
        Matching reports the pair's first language -> second (Del and Fishel score English -> X), or the
        mean of both directions; both are always in the details table.
    matching_ties : {"share", "miss"}, default "share"
        A translation tied with t - 1 other candidates earns 1/t (the expectation of a random tie-break), or
        nothing (the strict rule, which scores duplicated sentences 0).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    cli_panel: ClassVar[str] = "Indices"

    anc_absolute: bool = True
    cca_summary: Literal["mean", "mean_squared", "leading"] = "mean"
    ridge: Optional[float] = Field(default=None, ge=0)
    svcca_variance: float = Field(default=0.99, gt=0, le=1)
    svcca_dims: Optional[int] = Field(default=None, ge=1)
    pwcca_weights: Literal["morcos", "uncentred"] = "morcos"
    rbf_sigma: float = Field(default=0.8, gt=0)
    metric: Literal["cosine", "euclidean"] = "cosine"
    matching_direction: Literal["x_to_y", "both"] = "x_to_y"
    matching_ties: Literal["share", "miss"] = "share"


class UncertaintyOptions(BaseModel):
    """How much noise each value carries: its shuffled-pairing null and its jackknife interval.

    Defaults are cheap next to extraction: at n = 1000 sentences and d = 384 (me5-small), the nulls and
    intervals of the default indices add about 1.3 s of one core per pair and layer to the 0.15 s of the
    values (3 permutations: 3 cross products and 3 evaluations of each index; 10 shards: 90 merges and 10
    evaluations), about 2 minutes of one core for 13 layers x 7 pairs, shared out over ``workers``
    threads; matching's null is exact and its interval a mean over shards.

    Parameters
    ----------
    null_permutations : int, default 3
        Derangements of the translations for the null baseline (0: none). The same derangements serve every
        pair and layer.
    jackknife_shards : int, default 10
        Contiguous shards of the sentences for the delete-a-group jackknife (0: no interval; else at least 2
        and at most half the sentences).
    confidence : float, default 0.95
        Coverage of the intervals, and the level at which a value counts as beyond its null.
    seed : int, default 0
        Seed of the derangements.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    cli_panel: ClassVar[str] = "Null baselines and intervals"

    null_permutations: int = Field(default=3, ge=0)
    jackknife_shards: int = Field(default=10, ge=0)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    seed: int = 0

    @model_validator(mode="after")
    def _shards(self) -> "UncertaintyOptions":
        if self.jackknife_shards == 1:
            raise ConfigError("jackknife_shards must be 0 (no interval) or at least 2")
        return self


_SUMMARIES = {"mean": "mean rho (Raghu et al. 2017)", "mean_squared": "mean rho^2 (Del and Fishel 2022, Eq. 1)",
              "leading": f"mean of leading rho to {LEADING_SHARE:.0%} of sum (svcca code)"}


def _ridge(o: IndexOptions) -> str:
    return "" if o.ridge is None else f"; ridge {o.ridge:g}"


def _svcca_definition(o: IndexOptions) -> str:
    kept = f"{o.svcca_dims} directions" if o.svcca_dims else f"{o.svcca_variance:.0%} of variance"
    return f"{kept}; {_SUMMARIES[o.cca_summary]}{_ridge(o)}"


def _matching_definition(o: IndexOptions) -> str:
    direction = "x->y (Del and Fishel 2022)" if o.matching_direction == "x_to_y" else "mean of x->y and y->x"
    return f"top-1 {o.metric}, {direction}, ties {'shared' if o.matching_ties == 'share' else 'missed'}"


@dataclass(frozen=True)
class _Index:
    reads: Literal["moments", "vectors"]
    compute: Callable[..., Any]  # (stats, options) for moments, (X, Y, options) for vectors
    options: tuple[str, ...]  # the IndexOptions fields it uses
    label: str  # for figures
    reading: str  # what the index measures, for the report
    definition: Callable[[IndexOptions], str]  # what exactly is computed, for the table
    rownorm: bool = False  # needs RowNormMoments


INDICES: dict[str, _Index] = {
    "anc": _Index(
        "moments", lambda s, o: anc(s, absolute=o.anc_absolute), ("anc_absolute",), "ANC",
        "ANC (average neuron-wise correlation) is the mean over the model's neurons of the absolute Pearson "
        "correlation between a neuron's value on a sentence and on its translation: 1 means every neuron moves "
        "in step across the two languages, 0 that they are unrelated. Unlike the other indices it compares "
        "neuron with neuron, so it is not invariant to rotating the representation.",
        lambda o: "mean |r| over neurons (Del and Fishel 2022)" if o.anc_absolute else "mean signed r over neurons"),
    "cka": _Index(
        "moments", lambda s, o: linear_cka(s), (), "linear CKA",
        "Linear CKA compares the similarity structure of the sentences in the two languages (whether sentences "
        "that are close in one language are close in the other); 1 = identical up to rotation and scale. Its "
        "biased estimator is high even for unrelated sentences when they are few for their dimensions.",
        lambda o: "linear, biased HSIC (Kornblith et al. 2019)"),
    "cka_debiased": _Index(
        "moments", lambda s, o: linear_cka(s, debiased=True), (), "debiased linear CKA",
        "Debiased linear CKA uses the unbiased HSIC estimator, removing the upward bias of CKA on few "
        "sentences; it can dip slightly below 0.",
        lambda o: "linear, unbiased HSIC (Song et al. 2012)", rownorm=True),
    "cca": _Index(
        "moments", lambda s, o: cca(s, summary=o.cca_summary, ridge=o.ridge), ("cca_summary", "ridge"), "CCA",
        "CCA summarises the canonical correlations: how well the best-matched linear combinations of neurons "
        "agree across the two languages, invariant to any invertible linear map of either side.",
        lambda o: _SUMMARIES[o.cca_summary] + _ridge(o)),
    "svcca": _Index(
        "moments", lambda s, o: svcca(s, variance=o.svcca_variance, dims=o.svcca_dims, summary=o.cca_summary,
                                      ridge=o.ridge),
        ("svcca_variance", "svcca_dims", "cca_summary", "ridge"), "SVCCA",
        "SVCCA is CCA restricted to the main principal directions of each language's representations, so it "
        "ignores low-variance noise directions.", _svcca_definition),
    "pwcca": _Index(
        "moments", lambda s, o: pwcca(s, weights=o.pwcca_weights, ridge=o.ridge), ("pwcca_weights", "ridge"),
        "PWCCA",
        "PWCCA weights each canonical correlation by how much of the neurons' activity its variate accounts "
        "for, so the directions that matter most for the representation count most.",
        lambda o: ("Morcos et al. 2018 weights" if o.pwcca_weights == "morcos"
                   else "uncentred weights (svcca code)") + _ridge(o)),
    "rbf_cka": _Index(
        "vectors", lambda X, Y, o: rbf_cka(X, Y, sigma=o.rbf_sigma), ("rbf_sigma",), "RBF CKA",
        "RBF CKA is CKA with a Gaussian kernel: it compares the local neighbourhood structure of the "
        "sentences in the two languages.",
        lambda o: f"sigma {o.rbf_sigma:g} x median distance, biased HSIC (Kornblith et al. 2019)"),
    "matching": _Index(
        "vectors", lambda X, Y, o: retrieval_accuracy(X, Y, metric=o.metric, direction=o.matching_direction,
                                                      ties=o.matching_ties),
        ("metric", "matching_direction", "matching_ties"), "matching accuracy",
        "Matching accuracy is the share of sentences whose translation is their nearest neighbour among all "
        "translations, from the pair's first language to the second (Del and Fishel's English -> X); chance "
        "is 1/n.", _matching_definition),
}

#: The indices computed unless asked otherwise: the six of Del and Fishel's study, with debiased linear CKA
#: beside the biased one (the biased estimator of unrelated sentences is 0.82 at n = 50, d = 200).
DEFAULT_INDICES = ("anc", "cka", "cka_debiased", "cca", "svcca", "pwcca", "matching")


def parse_pairs(spec: str, languages: Sequence[str]) -> list[tuple[str, str]]:
    """Language pairs named by ``spec``, in the order given (duplicates dropped).

    Parameters
    ----------
    spec : str
        ``"all"`` (every unordered pair, in language order), ``"en-*"`` (en with every other language,
        en first), ``"*-en"`` (every other language with en second), or a comma-separated list of explicit
        pairs ``"en-de,en-fr"``; wildcards and explicit pairs can be mixed. The first language of a pair
        is X (PWCCA's weights are computed on its side; every other index is symmetric).
    languages : sequence of str
        The languages available. Codes may themselves contain ``-`` (``zh-Hans``): a pair is matched
        against the known codes, not split blindly.

    Returns
    -------
    list of (str, str)

    Raises
    ------
    ConfigError
        For an unknown language, a pair of a language with itself, or an empty specification.
    """
    languages = list(languages)
    if spec.strip() == "all":
        if len(languages) < 2:
            raise ConfigError(f"pairs 'all' needs at least two languages, got {languages}")
        return list(combinations(languages, 2))
    pairs: list[tuple[str, str]] = []
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        if token.endswith("-*") or token.startswith("*-"):
            anchor = token[:-2] if token.endswith("-*") else token[2:]
            if anchor not in languages:
                raise ConfigError(f"pairs {token!r}: {anchor!r} is not among the languages {languages}")
            others = [lang for lang in languages if lang != anchor]
            pairs += [(anchor, o) for o in others] if token.endswith("-*") else [(o, anchor) for o in others]
            continue
        matches = [(a, b) for a in languages for b in languages if f"{a}-{b}" == token]
        if not matches:
            raise ConfigError(f"pair {token!r} is not two of the languages {languages} joined by '-' "
                             "(or 'all', 'X-*', '*-X')")
        a, b = matches[0]
        if a == b:
            raise ConfigError(f"pair {token!r} pairs a language with itself")
        pairs.append((a, b))
    pairs = list(dict.fromkeys(pairs))
    if not pairs:
        raise ConfigError(f"pairs {spec!r} names no language pair")
    return pairs


def parse_indices(names: Sequence[str]) -> list[str]:
    """Check index names against :data:`INDICES` and drop repeats, keeping the order.

    Parameters
    ----------
    names : sequence of str

    Returns
    -------
    list of str

    Raises
    ------
    ConfigError
        For an unknown name or an empty list.
    """
    unknown = [name for name in names if name not in INDICES]
    if unknown:
        raise ConfigError(f"unknown indices {unknown}; choose from {', '.join(INDICES)}")
    if not names:
        raise ConfigError("no index to compute")
    return list(dict.fromkeys(names))


def check_aligned(stores: Mapping[str, Any]) -> int:
    """Check that every store lists the same sentence ids in the same order; return their number.

    Parameters
    ----------
    stores : mapping of language to VectorStore
        Sentence-level stores (one row per sentence; ``meta`` has a ``sentence_id`` column).

    Returns
    -------
    int
        The number of paired rows n.

    Raises
    ------
    AlignmentError
        Naming the first language whose rows differ from the first store's (count, or first differing row
        with both ids).
    """
    (ref_lang, ref), *_ = stores.items()
    ids = ref.meta["sentence_id"].astype(str).tolist()
    for lang, store in stores.items():
        other = store.meta["sentence_id"].astype(str).tolist()
        if other == ids:
            continue
        if len(other) != len(ids):
            why = f"{lang!r} has {len(other)} rows but {ref_lang!r} has {len(ids)}"
        else:
            k = next(i for i, (x, y) in enumerate(zip(ids, other)) if x != y)
            why = f"row {k} is sentence {ids[k]!r} in {ref_lang!r} but {other[k]!r} in {lang!r}"
        raise AlignmentError(
            f"the sentence representations are not aligned by sentence id ({why}); row i of every language "
            "must be a translation of row i of the others (use a parallel corpus: pud:DIR or aligned text files)")
    return len(ids)


def _check_stores(stores: Mapping[str, Any]) -> tuple[dict, int, list[int]]:
    """One model, sentence level, same width and layers everywhere; returns (model identity, dim, layers)."""
    manifests = {lang: store.manifest for lang, store in stores.items()}
    (ref_lang, ref), *_ = manifests.items()
    for lang, m in manifests.items():
        if m["options"]["level"] != "sentence":
            raise ConfigError(f"the store of {lang!r} holds {m['options']['level']}-level vectors; the similarity "
                             "study pairs sentences (extract with level='sentence')")
        for what, get in (("model", lambda x: x["model"]["fingerprint"]), ("width", lambda x: x["dim"]),
                          ("layers", lambda x: x["layers"]), ("extraction options", lambda x: x["options"])):
            if get(m) != get(ref):
                raise ConfigError(f"the stores of {ref_lang!r} and {lang!r} differ in {what}: {get(ref)} vs {get(m)}")
    return ref["model"], int(ref["dim"]), list(ref["layers"])


_DETAILS: dict[type, tuple[str, ...]] = {
    ANCResult: ("n_excluded",),
    CKAResult: ("bandwidth_x", "bandwidth_y", "median_rows"),
    CCAResult: ("dims_x", "dims_y", "dropped_x", "dropped_y", "ridge", "explained_x", "explained_y"),
    RetrievalResult: ("x_to_y", "y_to_x", "n_scored", "duplicate_rows"),
}


def _details(result: Any) -> dict[str, float]:
    out = {name: getattr(result, name) for name in _DETAILS[type(result)]}
    if isinstance(result, ANCResult):
        kept = result.per_neuron[np.isfinite(result.per_neuron)]
        out["mean_r"] = kept.mean() if len(kept) else np.nan
        out["mean_abs_r"] = np.abs(kept).mean() if len(kept) else np.nan
    if isinstance(result, CCAResult):
        out["k"] = len(result.correlations)
        out["first_correlation"] = result.correlations[0] if len(result.correlations) else np.nan
    return {k: float(v) for k, v in out.items() if v is not None}


@dataclass
class _Observed:
    """An index's result and what it warned: degenerate input (the table's note) and neurons left out."""

    result: Any
    note: str = ""
    losses: list[str] = field(default_factory=list)


def _observed(fn: Callable[..., Any], *args) -> _Observed:
    """Call an index, keeping its degenerate-input and data-loss warnings (other warnings pass on)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args)
    seen = _Observed(result)
    notes = []
    for w in caught:
        if issubclass(w.category, DegenerateInputWarning):
            notes.append(str(w.message))
        elif issubclass(w.category, DataLossWarning):
            seen.losses.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    seen.note = "; ".join(notes)
    return seen


def _evaluation_order(names: Sequence[str]) -> list[str]:
    """PWCCA first: its canonical decomposition (with vectors) is memoised and CCA of the same moments reuses it."""
    return sorted(names, key=lambda name: name != "pwcca")


def _values(make: Callable[[Any], Any], items: Sequence[Any], names: Sequence[str], options: IndexOptions,
            workers: int) -> list[dict[str, float]]:
    """Every index on the statistics ``make(item)`` of each item (replicates, derangements), warnings silenced.

    The value on all rows has reported its warnings already. Items run on ``workers`` threads (numpy's
    linear algebra releases the interpreter lock); the filter is set here, once, because warning filters
    are process-wide and ``catch_warnings`` is not safe inside threads.
    """

    def one(item: Any) -> dict[str, float]:
        inputs = make(item)  # statistics, or (X, Y) for an index on vectors
        args = inputs if isinstance(inputs, tuple) else (inputs,)
        return {name: float(INDICES[name].compute(*args, options)) for name in _evaluation_order(names)}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if workers > 1 and len(items) > 1:
            with ThreadPoolExecutor(min(workers, len(items))) as pool:
                return list(pool.map(one, items))
        return [one(item) for item in items]


@dataclass
class _Estimate:
    """One value of the table with its uncertainty (NaN where not computed)."""

    seen: _Observed
    se: float = np.nan
    low: float = np.nan
    high: float = np.nan
    null: float = np.nan
    null_sd: float = np.nan


def _with_interval(estimate: _Estimate, replicates: Sequence[float], confidence: float) -> _Estimate:
    interval = jackknife_interval(float(estimate.seen.result), replicates, confidence=confidence)
    estimate.se, estimate.low, estimate.high = interval.se, interval.low, interval.high
    return estimate


def _moment_estimates(X, Y, names: Sequence[str], options: IndexOptions, uncertainty: UncertaintyOptions,
                      perms: Sequence[np.ndarray], chunk_size: int, workers: int) -> dict[str, _Estimate]:
    """Every moment index of one pair and layer, with its jackknife interval and shuffled-pairing null."""
    rownorm = any(INDICES[name].rownorm for name in names)
    shards = uncertainty.jackknife_shards
    parts = shard_stats(X, Y, max(shards, 1), rownorm=rownorm, chunk_size=chunk_size)
    total = merge_all(parts)
    out = {name: _Estimate(_observed(INDICES[name].compute, total, options)) for name in _evaluation_order(names)}
    if shards:
        replicates = _values(lambda g: merge_all(parts[:g] + parts[g + 1:]), range(shards), names, options, workers)
        for name in names:
            _with_interval(out[name], [r[name] for r in replicates], uncertainty.confidence)
    nulls = _values(lambda pi: shuffled_stats(total, X, Y, pi, chunk_size=chunk_size), perms, names, options,
                    workers)
    for name in names:
        out[name].null, out[name].null_sd = null_summary([v[name] for v in nulls])
    return out


def _vector_estimates(X, Y, names: Sequence[str], options: IndexOptions, uncertainty: UncertaintyOptions,
                      perms: Sequence[np.ndarray], workers: int) -> dict[str, _Estimate]:
    """Matching and RBF CKA of one pair and layer, with their intervals and nulls.

    Matching: the interval is the jackknife over shards of the mean of the rows' credits (the candidates
    stay all n), and the null is exact: a row's credits over the candidates sum to 1, so a random
    partner scores 1/n on average; its spread is about 1/n (the number of hits of a random pairing is
    close to Poisson with mean 1). RBF CKA: the jackknife and the null recompute the index on the rows
    without a shard and on deranged pairs, G and K times O(n^2 (p + q)).
    """
    out = {}
    shards = uncertainty.jackknife_shards
    bounds = shard_bounds(len(X), shards) if shards else []
    for name in names:
        estimate = out[name] = _Estimate(_observed(INDICES[name].compute, X, Y, options))
        result = estimate.seen.result
        if isinstance(result, RetrievalResult):
            credits = result.correct_x_to_y if result.direction == "x_to_y" else (
                (result.correct_x_to_y + result.correct_y_to_x) / 2)
            if shards:
                replicates = [np.delete(credits, np.s_[a:b]).mean() for a, b in bounds]
                _with_interval(estimate, replicates, uncertainty.confidence)
            if perms:
                estimate.null = estimate.null_sd = 1.0 / result.n_scored
            continue
        if shards:
            replicates = _values(lambda ab: (np.delete(X, np.s_[ab[0]:ab[1]], 0), np.delete(Y, np.s_[ab[0]:ab[1]], 0)),
                                 bounds, [name], options, workers)
            _with_interval(estimate, [r[name] for r in replicates], uncertainty.confidence)
        nulls = _values(lambda pi: (X, np.asarray(Y)[pi]), perms, [name], options, workers)
        estimate.null, estimate.null_sd = null_summary([v[name] for v in nulls])
    return out


@dataclass(frozen=True)
class SimilarityResult:
    """Results of :func:`compute_similarity`.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy: one row per (layer, pair, index) with ``model, layer, pair, lang_x, lang_y, index, definition,
        value, se, low, high, null, null_sd, beyond_null, n, note``: ``definition`` names the convention
        computed; ``se``, ``low`` and ``high`` the jackknife standard error and interval; ``null`` and
        ``null_sd`` the mean and spread of the index under shuffled pairing; ``beyond_null`` whether
        ``value - null`` exceeds the interval's quantile times ``sqrt(se^2 + null_sd^2)`` (missing without a
        null); ``note`` the degenerate-input warning behind a NaN or a fallback such as a ridge, else "".
    details : pandas.DataFrame
        Per-index diagnostics, long form ``layer, pair, index, quantity, value`` (ANC: excluded neurons, the
        signed and absolute mean correlations;
        CCA family: dimensions, neurons left out, ridge, explained variance, first correlation; matching:
        both directions, duplicated rows; RBF CKA: bandwidths).
    anc_matrix : pandas.DataFrame or None
        ANC at ``focus_layer`` for every unordered pair of languages: ``layer, lang_x, lang_y, value, n``.
    per_neuron : pandas.DataFrame or None
        Signed correlation of every neuron for the requested pairs, at ``focus_layer`` or every layer:
        ``model, layer, pair, neuron, r``.
    languages : list of str
        The languages of the stores, in their order.
    pairs : list of (str, str)
        The pairs computed, (X, Y).
    layers : list of int
        Hidden-state indices computed (0 = embedding output).
    focus_layer : int or None
        Layer of the ANC matrix (and of the per-neuron table unless every layer was asked for).
    n : int
        Paired sentences.
    dims : int
        Width of the representations.
    options : IndexOptions
        The indices' settings.
    uncertainty : UncertaintyOptions
        The null baseline's and intervals' settings.
    seconds : float
        Wall time of the computation.
    """

    table: pd.DataFrame
    details: pd.DataFrame
    anc_matrix: pd.DataFrame | None
    per_neuron: pd.DataFrame | None
    languages: list[str]
    pairs: list[tuple[str, str]]
    layers: list[int]
    focus_layer: int | None
    n: int
    dims: int
    options: IndexOptions
    uncertainty: UncertaintyOptions
    seconds: float

    def summary(self) -> pd.DataFrame:
        """Mean over pairs of every index per layer.

        Returns
        -------
        pandas.DataFrame
            One row per layer: ``layer`` and one column per index, in the order computed.
        """
        order = list(dict.fromkeys(self.table["index"]))
        wide = self.table.pivot_table(index="layer", columns="index", values="value", aggfunc="mean", dropna=False)
        return wide[order].reset_index().rename_axis(columns=None)


_TABLE_COLUMNS = ["model", "layer", "pair", "lang_x", "lang_y", "index", "definition", "value", "se", "low", "high",
                  "null", "null_sd", "beyond_null", "n", "note"]


def _beyond(value: float, se: float, null: float, null_sd: float, quantile: float) -> Any:
    """Whether ``value`` rises above ``null`` by more than ``quantile`` combined standard deviations (NA: no null)."""
    if not np.isfinite(null):
        return pd.NA
    spread = np.sqrt(np.nansum([se**2, null_sd**2]))
    return bool(value - null > quantile * spread)


def compute_similarity(
    stores: Mapping[str, Any],
    pairs: Sequence[tuple[str, str]],
    *,
    indices: Sequence[str] = DEFAULT_INDICES,
    layers: Sequence[int] | None = None,
    focus_layer: int | None = None,
    anc_matrix: bool = True,
    per_neuron: bool = True,
    per_neuron_layers: Literal["focus", "all"] = "focus",
    options: IndexOptions = IndexOptions(),
    uncertainty: UncertaintyOptions = UncertaintyOptions(),
    chunk_size: int = 4096,
    workers: int = 1,
    progress: bool = True,
    engine: Engine | None = None,
) -> SimilarityResult:
    """Every index for every pair and layer, with its null baseline and interval, from aligned vector stores.

    Parameters
    ----------
    stores : mapping of language to :class:`~crossling.extraction.store.VectorStore`
        Sentence-level stores of one model, aligned by sentence id (checked).
    pairs : sequence of (str, str)
        Language pairs (X, Y); see :func:`parse_pairs`.
    indices : sequence of str, default :data:`DEFAULT_INDICES`
        Names from :data:`INDICES`.
    layers : sequence of int, optional
        Hidden-state indices (negative counts from the end); default every stored layer.
    focus_layer : int, optional
        Layer of the ANC matrix over all language pairs and of the per-neuron breakdown; default the
        middle of ``layers``.
    anc_matrix, per_neuron : bool, default True
        Compute the ANC matrix / the per-neuron correlations.
    per_neuron_layers : {"focus", "all"}, default "focus"
        The per-neuron correlations at ``focus_layer`` only, or at every layer of ``layers`` (O(n d) each).
    options : IndexOptions
        The indices' settings and conventions.
    uncertainty : UncertaintyOptions
        Null baselines and intervals (see the module docstring for their cost).
    chunk_size : int, default 4096
        Rows read from the stores at a time when accumulating moments.
    workers : int, default 1
        Threads computing the jackknife replicates and null baselines (the values do not depend on it), in
        each task.
    progress : bool, default True
        Show a progress bar over layers and pairs.
    engine : Engine, optional
        Where the (layer, pair) tasks run (:func:`crossling.engine.open_engine`); default this process. A
        cluster's workers read the stores at their paths, which every node must see.

    Returns
    -------
    SimilarityResult

    Raises
    ------
    ConfigError
        For no pairs, a pair naming a language without a store, unknown indices or layers, a non-positive
        ``chunk_size`` or ``workers``, or stores of different models, levels, widths or layers.
    AlignmentError
        When the stores do not list the same sentence ids in the same order.

    Warns
    -----
    DegenerateInputWarning
        Once, when values were computed on degenerate input (their ``note``); once when there are fewer than
        two sentences per jackknife shard (then ``n // 2`` shards are used, or none below 4 sentences, and the
        result's ``uncertainty`` says so).
    DataLossWarning
        Once, when the CCA family left out constant or collinear neurons (counted in the details).
    NullReachWarning
        Once per index whose null baseline averages at least
        :data:`~crossling.similarity.baseline.NULL_REACH`: the sentences are too few for its dimensions.
    """
    indices = parse_indices(indices)
    if not pairs:
        raise ConfigError("no language pairs")
    missing = sorted({lang for pair in pairs for lang in pair} - set(stores))
    if missing:
        raise ConfigError(f"pairs name languages without vectors: {missing} (have {list(stores)})")
    if chunk_size < 1 or workers < 1:
        raise ConfigError(f"chunk_size and workers must be positive, got {chunk_size} and {workers}")
    identity, dims, stored = _check_stores(stores)
    n = check_aligned(stores)
    if uncertainty.jackknife_shards > n // 2:  # a shard of one sentence has no spread to speak of
        fewer = n // 2 if n // 2 >= 2 else 0
        warnings.warn(f"jackknife_shards={uncertainty.jackknife_shards} needs at least "
                      f"{2 * uncertainty.jackknife_shards} sentences and there are {n}: "
                      + (f"using {fewer} shards (wider intervals)" if fewer else "no interval (NaN)"),
                      DegenerateInputWarning, stacklevel=2)
        uncertainty = uncertainty.model_copy(update={"jackknife_shards": fewer})
    layers = resolve_layers(layers, stored)
    focus = (layers[len(layers) // 2] if focus_layer is None
             else resolve_layers([focus_layer], stored, what="focus_layer")[0])
    model = model_label(identity)
    perms = derangements(n, uncertainty.null_permutations, uncertainty.seed)
    quantile = (float(scipy_stats.t.ppf((1 + uncertainty.confidence) / 2, uncertainty.jackknife_shards - 1))
                if uncertainty.jackknife_shards else float(scipy_stats.norm.ppf((1 + uncertainty.confidence) / 2)))
    started = time.perf_counter()
    rows, details, losses = [], [], []

    def record(layer: int, a: str, b: str, name: str, estimate: _Estimate) -> None:
        result = estimate.seen.result
        count = result.n_scored if isinstance(result, RetrievalResult) else result.n
        value = float(result)
        rows.append((model, layer, pair_label(a, b), a, b, name, INDICES[name].definition(options), value,
                     estimate.se, estimate.low, estimate.high, estimate.null, estimate.null_sd,
                     _beyond(value, estimate.se, estimate.null, estimate.null_sd, quantile), int(count),
                     estimate.seen.note))
        details.extend((layer, pair_label(a, b), name, q, v) for q, v in _details(result).items())
        losses.extend(estimate.seen.losses)

    engine = engine if engine is not None else LocalEngine()
    shared = engine.share(_PairWork(dict(stores), indices, options, uncertainty, perms, chunk_size, workers))
    tasks = [(shared, layer, a, b) for layer in layers for a, b in pairs]
    for (_, layer, a, b), estimates in zip(tasks, in_order(engine.imap(
            _pair_estimates, tasks, desc="similarity", unit="pair", progress=progress))):
        for name in indices:
            record(layer, a, b, name, estimates[name])
    table = pd.DataFrame(rows, columns=_TABLE_COLUMNS).astype({"beyond_null": "boolean"})
    matrix, neurons = _focus(stores, pairs, focus, layers if per_neuron_layers == "all" else [focus], model, options,
                             anc_matrix=anc_matrix, per_neuron=per_neuron)
    _warn_summaries(table, losses, n, dims)
    return SimilarityResult(
        table=table,
        details=pd.DataFrame(details, columns=["layer", "pair", "index", "quantity", "value"]),
        anc_matrix=matrix, per_neuron=neurons, languages=list(stores), pairs=[tuple(p) for p in pairs],
        layers=layers, focus_layer=focus if (anc_matrix or per_neuron) else None, n=n, dims=dims, options=options,
        uncertainty=uncertainty, seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class _PairWork:
    """What every (layer, pair) task of one call reads: the stores, the indices and their settings."""

    stores: dict[str, Any]
    indices: list[str]
    options: IndexOptions
    uncertainty: UncertaintyOptions
    perms: list[np.ndarray]
    chunk_size: int
    workers: int


def _pair_estimates(task: tuple[Shared, int, str, str]) -> dict[str, _Estimate]:
    """One task: every index of one layer and pair, with its jackknife interval and shuffled-pairing null."""
    shared, layer, a, b = task
    work: _PairWork = shared.get()
    X, Y = work.stores[a].vectors(layer), work.stores[b].vectors(layer)
    on_moments = [i for i in work.indices if INDICES[i].reads == "moments"]
    on_vectors = [i for i in work.indices if INDICES[i].reads == "vectors"]
    estimates = {}
    if on_moments:
        estimates.update(_moment_estimates(X, Y, on_moments, work.options, work.uncertainty, work.perms,
                                           work.chunk_size, work.workers))
    if on_vectors:
        estimates.update(_vector_estimates(X, Y, on_vectors, work.options, work.uncertainty, work.perms,
                                           work.workers))
    return estimates


def _warn_summaries(table: pd.DataFrame, losses: list[str], n: int, dims: int) -> None:
    """One warning each for degenerate values, neurons left out, and every index whose null is too high."""
    notes = table.loc[table["note"] != "", "note"]
    if len(notes):
        warnings.warn(f"{len(notes)} of {len(table)} index values were computed on degenerate input (see the "
                      f"'note' column), e.g.: {notes.iloc[0]}", DegenerateInputWarning, stacklevel=3)
    if losses:
        warnings.warn(f"{len(losses)} of {len(table)} CCA-family values left out constant or collinear neurons and "
                      f"were computed on the span of the rest (see dropped_x, dropped_y in the details), e.g.: "
                      f"{losses[0]}", DataLossWarning, stacklevel=3)
    for name, nulls in table.groupby("index", sort=False)["null"]:
        if nulls.notna().any():
            warn_null_reach(INDICES[name].label, float(nulls.mean()), n, dims, highest=float(nulls.max()),
                            stacklevel=3)


def _focus(stores, pairs, focus: int, per_neuron_layers: Sequence[int], model: str, options: IndexOptions, *,
           anc_matrix: bool, per_neuron: bool):
    """ANC at the focus layer for every unordered language pair, and the per-neuron correlations of the pairs.

    ANC needs only per-neuron variances and covariances, so it is computed on the vectors (O(n d) per
    pair and layer) rather than from full moments.
    """
    if not (anc_matrix or per_neuron):
        return None, None

    def anc_of(a: str, b: str, layer: int) -> ANCResult:
        return _observed(lambda x, y: anc(x, y, absolute=options.anc_absolute), stores[a].vectors(layer),
                         stores[b].vectors(layer)).result

    matrix = None
    if anc_matrix:
        rows = []
        for a, b in combinations(stores, 2):
            result = anc_of(a, b, focus)
            rows.append((focus, a, b, result.value, result.n))
        matrix = pd.DataFrame(rows, columns=["layer", "lang_x", "lang_y", "value", "n"])
    neurons = None
    if per_neuron:
        frames = []
        for layer in per_neuron_layers:
            for a, b in pairs:
                r = anc_of(a, b, layer).per_neuron
                frames.append(pd.DataFrame({"model": model, "layer": layer, "pair": pair_label(a, b),
                                            "neuron": np.arange(len(r)), "r": r}))
        neurons = pd.concat(frames, ignore_index=True)
    return matrix, neurons
