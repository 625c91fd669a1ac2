"""The cross-lingual similarity study (Del and Fishel, 2022): every index, every language pair, every layer.

``crossling similarity`` reads a parallel corpus (Parallel UD, or aligned ``<lang>.txt`` files), extracts
mean-pooled sentence representations of every language from all hidden states in one pass per language
(cached in vector stores, :func:`crossling.extraction.store.extract_to_store`), and computes each index for each
language pair and layer:

=================  ========  ==========================================================================
index name         reads     index (all similarities, 1 = alike)
=================  ========  ==========================================================================
``anc``            moments   average neuron-wise correlation, :func:`~crossling.similarity.anc`
``cka``            moments   linear CKA, :func:`~crossling.similarity.linear_cka`
``cka_debiased``   moments   debiased linear CKA (row-norm statistics, :class:`RowNormMoments`)
``cca``            moments   mean canonical correlation, :func:`~crossling.similarity.cca`
``svcca``          moments   :func:`~crossling.similarity.svcca`
``pwcca``          moments   :func:`~crossling.similarity.pwcca` (weights on the pair's first language)
``rbf_cka``        vectors   RBF-kernel CKA, :func:`~crossling.similarity.rbf_cka`
``matching``       vectors   top-1 translation retrieval accuracy,
                             :func:`~crossling.similarity.retrieval_accuracy`
=================  ========  ==========================================================================

The moment-based indices stream the stores' rows in chunks into a :class:`crossling.Moments` per pair and
layer; only RBF CKA and matching read the vectors whole. Layers are the outer loop and pairs the inner one,
so a language's covariance eigendecomposition (shared by CCA, SVCCA and PWCCA of every pair it is in) is
computed once per layer, and memory holds one pair's moments at a time.

Rows are paired by sentence id: every store must list the same sentence ids in the same order
(:func:`check_aligned`), which :func:`crossling.data.pud.read_pud` and the aligned text reader guarantee.
Outputs (:func:`crossling.similarity.run.run_similarity`): a tidy table ``similarity`` (model, layer, pair, lang_x,
lang_y, index, value, n, note), per-index diagnostics, the per-layer means, an ANC matrix of all language pairs at one
layer, the per-neuron ANC breakdown there, figures, ``manifest.json`` and a ``report.json`` section.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, ClassVar, Literal, Optional

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from crossling._utils.labels import model_label, pair_label
from crossling._utils.progress import progress_bar
from crossling.config import resolve_layers
from crossling.exceptions import AlignmentError, ConfigError, DegenerateInputWarning
from crossling.moments import Moments
from crossling.similarity.canonical import CCAResult, cca, pwcca, svcca
from crossling.similarity.cka import CKAResult, linear_cka, rbf_cka
from crossling.similarity.neuronwise import ANCResult, anc
from crossling.similarity.retrieval import RetrievalResult, retrieval_accuracy
from crossling.similarity.rownorm import RowNormMoments

__all__ = [
    "DEFAULT_INDICES",
    "INDICES",
    "IndexOptions",
    "SimilarityResult",
    "check_aligned",
    "compute_similarity",
    "parse_indices",
    "parse_pairs",
]


class IndexOptions(BaseModel):
    """Settings of the indices (each index reads only its own; all are recorded in the provenance).

    Parameters
    ----------
    anc_absolute : bool, default True
        ANC averages ``|r_i|``; False averages the signed correlations.
    ridge : float or None, default None
        Relative ridge of CCA, SVCCA and PWCCA; None: none unless there are too few sentences for the
        dimensions, then :data:`crossling.similarity.DEFAULT_RIDGE` with a warning (see :func:`cca`).
    svcca_variance : float, default 0.99
        SVCCA keeps the top principal directions explaining this share of each side's variance.
    svcca_dims : int, optional
        SVCCA keeps exactly this many directions instead (Del and Fishel's code used 20).
    rbf_sigma : float, default 0.8
        RBF CKA bandwidth as a multiple of the median pairwise distance.
    metric : {"cosine", "euclidean"}, default "cosine"
        Similarity of the matching (retrieval) index.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    cli_panel: ClassVar[str] = "Indices"

    anc_absolute: bool = True
    ridge: Optional[float] = None
    svcca_variance: float = 0.99
    svcca_dims: Optional[int] = None
    rbf_sigma: float = 0.8
    metric: Literal["cosine", "euclidean"] = "cosine"


@dataclass(frozen=True)
class _Index:
    reads: Literal["moments", "vectors"]
    compute: Callable[..., Any]  # (stats, options) for moments, (X, Y, options) for vectors
    options: tuple[str, ...]  # the IndexOptions fields it uses
    label: str  # for figures
    reading: str  # what the index measures, for the report


INDICES: dict[str, _Index] = {
    "anc": _Index(
        "moments", lambda s, o: anc(s, absolute=o.anc_absolute), ("anc_absolute",), "ANC",
        "ANC (average neuron-wise correlation) is the mean over the model's neurons of the absolute Pearson "
        "correlation between a neuron's value on a sentence and on its translation: 1 means every neuron moves "
        "in step across the two languages, 0 that they are unrelated. Unlike the other indices it compares "
        "neuron with neuron, so it is not invariant to rotating the representation."),
    "cka": _Index(
        "moments", lambda s, o: linear_cka(s), (), "linear CKA",
        "Linear CKA compares the similarity structure of the sentences in the two languages (whether sentences "
        "that are close in one language are close in the other); 1 = identical up to rotation and scale."),
    "cka_debiased": _Index(
        "moments", lambda s, o: linear_cka(s, debiased=True), (), "debiased linear CKA",
        "Debiased linear CKA uses the unbiased HSIC estimator, removing the upward bias of CKA on few "
        "sentences; it can dip slightly below 0."),
    "cca": _Index(
        "moments", lambda s, o: cca(s, ridge=o.ridge), ("ridge",), "CCA (mean)",
        "CCA is the mean canonical correlation: how well the best-matched linear combinations of neurons agree "
        "across the two languages, invariant to any invertible linear map of either side."),
    "svcca": _Index(
        "moments", lambda s, o: svcca(s, variance=o.svcca_variance, dims=o.svcca_dims, ridge=o.ridge),
        ("svcca_variance", "svcca_dims", "ridge"), "SVCCA",
        "SVCCA is CCA restricted to the main principal directions of each language's representations, so it "
        "ignores low-variance noise directions."),
    "pwcca": _Index(
        "moments", lambda s, o: pwcca(s, ridge=o.ridge), ("ridge",), "PWCCA",
        "PWCCA weights each canonical correlation by how much of the neurons' activity its variate accounts "
        "for, so the directions that matter most for the representation count most."),
    "rbf_cka": _Index(
        "vectors", lambda X, Y, o: rbf_cka(X, Y, sigma=o.rbf_sigma), ("rbf_sigma",), "RBF CKA",
        "RBF CKA is CKA with a Gaussian kernel: it compares the local neighbourhood structure of the "
        "sentences in the two languages."),
    "matching": _Index(
        "vectors", lambda X, Y, o: retrieval_accuracy(X, Y, metric=o.metric), ("metric",), "matching accuracy",
        "Matching accuracy is the share of sentences whose translation is their nearest neighbour among all "
        "translations (both directions averaged); chance is 1/n."),
}

#: The indices computed unless asked otherwise (the six of Del and Fishel's study).
DEFAULT_INDICES = ("anc", "cka", "cca", "svcca", "pwcca", "matching")


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


def _stream_stats(store_x, store_y, layer: int, *, rownorm: bool, chunk_size: int) -> Moments | RowNormMoments:
    """Second moments (plus row-norm sums when asked) of one layer of two stores, read ``chunk_size`` at a time."""
    X_all, Y_all = store_x.vectors(layer), store_y.vectors(layer)
    stats = (RowNormMoments if rownorm else Moments)(X_all.shape[1], Y_all.shape[1])
    for start in range(0, X_all.shape[0], chunk_size):
        stats.update(X_all[start:start + chunk_size], Y_all[start:start + chunk_size])
    return stats


_DETAILS: dict[type, tuple[str, ...]] = {
    ANCResult: ("n_excluded",),
    CKAResult: ("bandwidth_x", "bandwidth_y", "median_rows"),
    CCAResult: ("dims_x", "dims_y", "ridge", "explained_x", "explained_y"),
    RetrievalResult: ("x_to_y", "y_to_x", "n_scored"),
}


def _details(result: Any) -> dict[str, float]:
    out = {name: getattr(result, name) for name in _DETAILS[type(result)]}
    if isinstance(result, CCAResult):
        out["k"] = len(result.correlations)
        out["first_correlation"] = result.correlations[0] if len(result.correlations) else np.nan
    return {k: float(v) for k, v in out.items() if v is not None}


def _observed(fn: Callable[..., Any], *args) -> tuple[Any, str]:
    """Call an index, returning its result and the degenerate-input warnings it gave (joined)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args)
    notes = []
    for w in caught:
        if issubclass(w.category, DegenerateInputWarning):
            notes.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, "; ".join(notes)


@dataclass(frozen=True)
class SimilarityResult:
    """Results of :func:`compute_similarity`.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy: one row per (layer, pair, index) with ``model, layer, pair, lang_x, lang_y, index, value, n,
        note`` (``note``: the degenerate-input warning behind a NaN or a fallback such as a ridge, else "").
    details : pandas.DataFrame
        Per-index diagnostics, long form ``layer, pair, index, quantity, value`` (ANC: excluded neurons;
        CCA family: dimensions, ridge, explained variance, first correlation; matching: both directions;
        RBF CKA: bandwidths).
    anc_matrix : pandas.DataFrame or None
        ANC at ``focus_layer`` for every unordered pair of languages: ``layer, lang_x, lang_y, value, n``.
    per_neuron : pandas.DataFrame or None
        Signed correlation of every neuron at ``focus_layer`` for the requested pairs:
        ``model, layer, pair, neuron, r``.
    languages : list of str
    pairs : list of (str, str)
    layers : list of int
        Hidden-state indices computed (0 = embedding output).
    focus_layer : int or None
    n : int
        Paired sentences.
    options : IndexOptions
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
    options: IndexOptions
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


_TABLE_COLUMNS = ["model", "layer", "pair", "lang_x", "lang_y", "index", "value", "n", "note"]


def compute_similarity(
    stores: Mapping[str, Any],
    pairs: Sequence[tuple[str, str]],
    *,
    indices: Sequence[str] = DEFAULT_INDICES,
    layers: Sequence[int] | None = None,
    focus_layer: int | None = None,
    anc_matrix: bool = True,
    per_neuron: bool = True,
    options: IndexOptions = IndexOptions(),
    chunk_size: int = 4096,
    progress: bool = True,
) -> SimilarityResult:
    """Every index for every pair and layer, from aligned sentence-level vector stores.

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
        Compute the ANC matrix / the per-neuron correlations at ``focus_layer``.
    options : IndexOptions
    chunk_size : int, default 4096
        Rows read from the stores at a time when accumulating moments.
    progress : bool, default True

    Returns
    -------
    SimilarityResult

    Raises
    ------
    ConfigError
        For no pairs, a pair naming a language without a store, unknown indices or layers, a non-positive
        ``chunk_size``, or stores of different models, levels, widths or layers.
    AlignmentError
        When the stores do not list the same sentence ids in the same order.
    """
    indices = parse_indices(indices)
    if not pairs:
        raise ConfigError("no language pairs")
    missing = sorted({lang for pair in pairs for lang in pair} - set(stores))
    if missing:
        raise ConfigError(f"pairs name languages without vectors: {missing} (have {list(stores)})")
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be positive, got {chunk_size}")
    identity, _, stored = _check_stores(stores)
    n = check_aligned(stores)
    layers = resolve_layers(layers, stored)
    focus = (layers[len(layers) // 2] if focus_layer is None
             else resolve_layers([focus_layer], stored, what="focus_layer")[0])
    model = model_label(identity)
    rownorm = "cka_debiased" in indices
    on_moments = [i for i in indices if INDICES[i].reads == "moments"]
    on_vectors = [i for i in indices if INDICES[i].reads == "vectors"]
    started = time.perf_counter()
    rows, details = [], []

    def record(layer: int, a: str, b: str, name: str, result: Any, note: str) -> None:
        count = result.n_scored if isinstance(result, RetrievalResult) else result.n
        rows.append((model, layer, pair_label(a, b), a, b, name, float(result), int(count), note))
        details.extend((layer, pair_label(a, b), name, q, v) for q, v in _details(result).items())

    bar = progress_bar(len(layers) * len(pairs), "similarity", "pair", enabled=progress)
    for layer in layers:
        for a, b in pairs:
            if on_moments:
                stats = _stream_stats(stores[a], stores[b], layer, rownorm=rownorm, chunk_size=chunk_size)
                for name in on_moments:
                    record(layer, a, b, name, *_observed(INDICES[name].compute, stats, options))
            if on_vectors:
                X, Y = stores[a].vectors(layer), stores[b].vectors(layer)
                for name in on_vectors:
                    record(layer, a, b, name, *_observed(INDICES[name].compute, X, Y, options))
            bar.update()
    bar.close()
    table = pd.DataFrame(rows, columns=_TABLE_COLUMNS)
    matrix, neurons = _focus(stores, pairs, focus, model, options, anc_matrix=anc_matrix, per_neuron=per_neuron)
    notes = table.loc[table["note"] != "", "note"]
    if len(notes):
        warnings.warn(f"{len(notes)} of {len(table)} index values were computed on degenerate input (see the "
                      f"'note' column), e.g.: {notes.iloc[0]}", DegenerateInputWarning, stacklevel=2)
    return SimilarityResult(
        table=table,
        details=pd.DataFrame(details, columns=["layer", "pair", "index", "quantity", "value"]),
        anc_matrix=matrix, per_neuron=neurons, languages=list(stores), pairs=[tuple(p) for p in pairs],
        layers=layers, focus_layer=focus if (anc_matrix or per_neuron) else None, n=n, options=options,
        seconds=time.perf_counter() - started,
    )


def _focus(stores, pairs, layer: int, model: str, options: IndexOptions, *, anc_matrix: bool, per_neuron: bool):
    """ANC at one layer for every unordered language pair, and the per-neuron correlations of the requested pairs.

    ANC needs only per-neuron variances and covariances, so it is computed on the vectors (O(n d) per
    pair) rather than from full moments.
    """
    if not (anc_matrix or per_neuron):
        return None, None
    wanted = list(combinations(stores, 2)) if anc_matrix else []
    wanted += [p for p in pairs if p not in wanted and p[::-1] not in wanted]
    results = {}
    for a, b in wanted:
        res, _ = _observed(lambda x, y: anc(x, y, absolute=options.anc_absolute), stores[a].vectors(layer),
                           stores[b].vectors(layer))
        results[a, b] = results[b, a] = res
    matrix = None
    if anc_matrix:
        matrix = pd.DataFrame([(layer, a, b, results[a, b].value, results[a, b].n)
                               for a, b in combinations(stores, 2)],
                              columns=["layer", "lang_x", "lang_y", "value", "n"])
    neurons = None
    if per_neuron:
        neurons = pd.concat([pd.DataFrame({"model": model, "layer": layer, "pair": pair_label(a, b),
                                           "neuron": np.arange(len(results[a, b].per_neuron)),
                                           "r": results[a, b].per_neuron}) for a, b in pairs], ignore_index=True)
    return matrix, neurons


