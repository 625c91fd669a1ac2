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
Outputs (:func:`run_similarity`): a tidy table ``similarity`` (model, layer, pair, lang_x, lang_y, index,
value, n, note), per-index diagnostics, the per-layer means, an ANC matrix of all language pairs at one
layer, the per-neuron ANC breakdown there, figures, ``manifest.json`` and a ``report.json`` section.
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from importlib import metadata
from itertools import combinations
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import typer
from pydantic import BaseModel, ConfigDict, field_validator
from tqdm.auto import tqdm

from crossling.config import (
    BatchSizeFlag, CommaList, ConfigFlag, DeviceFlag, LanguagesFlag, LayerList, LayersFlag, LimitFlag, MaxLengthFlag,
    ModelFlag, ModelOptions, OutFlag, ParallelCorpusFlag, PrefixFlag, StoreDirFlag, resolve_layers)
from crossling.exceptions import AlignmentError
from crossling.exceptions import DegenerateInputWarning
from crossling.report import model_label
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
    "SimilarityConfig",
    "SimilarityResult",
    "SimilarityStudy",
    "check_aligned",
    "compute_similarity",
    "parse_pairs",
    "run_similarity",
    "similarity_command",
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
    ValueError
        For an unknown language, a pair of a language with itself, or an empty specification.
    """
    languages = list(languages)
    if spec.strip() == "all":
        if len(languages) < 2:
            raise ValueError(f"pairs 'all' needs at least two languages, got {languages}")
        return list(combinations(languages, 2))
    pairs: list[tuple[str, str]] = []
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        if token.endswith("-*") or token.startswith("*-"):
            anchor = token[:-2] if token.endswith("-*") else token[2:]
            if anchor not in languages:
                raise ValueError(f"pairs {token!r}: {anchor!r} is not among the languages {languages}")
            others = [lang for lang in languages if lang != anchor]
            pairs += [(anchor, o) for o in others] if token.endswith("-*") else [(o, anchor) for o in others]
            continue
        matches = [(a, b) for a in languages for b in languages if f"{a}-{b}" == token]
        if not matches:
            raise ValueError(f"pair {token!r} is not two of the languages {languages} joined by '-' "
                             "(or 'all', 'X-*', '*-X')")
        a, b = matches[0]
        if a == b:
            raise ValueError(f"pair {token!r} pairs a language with itself")
        pairs.append((a, b))
    pairs = list(dict.fromkeys(pairs))
    if not pairs:
        raise ValueError(f"pairs {spec!r} names no language pair")
    return pairs


def _parse_indices(names: Sequence[str]) -> list[str]:
    unknown = [name for name in names if name not in INDICES]
    if unknown:
        raise ValueError(f"unknown indices {unknown}; choose from {', '.join(INDICES)}")
    if not names:
        raise ValueError("no index to compute")
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
            raise ValueError(f"the store of {lang!r} holds {m['options']['level']}-level vectors; the similarity "
                             "study pairs sentences (extract with level='sentence')")
        for what, get in (("model", lambda x: x["model"]["fingerprint"]), ("width", lambda x: x["dim"]),
                          ("layers", lambda x: x["layers"]), ("extraction options", lambda x: x["options"])):
            if get(m) != get(ref):
                raise ValueError(f"the stores of {ref_lang!r} and {lang!r} differ in {what}: {get(ref)} vs {get(m)}")
    return ref["model"], int(ref["dim"]), list(ref["layers"])


def _stream_stats(store_x, store_y, layer: int, *, rownorm: bool, chunk_rows: int) -> Moments | RowNormMoments:
    """Second moments (plus row-norm sums when asked) of one layer of two stores, read ``chunk_rows`` at a time."""
    X_all, Y_all = store_x.vectors(layer), store_y.vectors(layer)
    stats = (RowNormMoments if rownorm else Moments)(X_all.shape[1], Y_all.shape[1])
    for start in range(0, X_all.shape[0], chunk_rows):
        stats.update(X_all[start:start + chunk_rows], Y_all[start:start + chunk_rows])
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
        """Mean over pairs of every index per layer (rows: layer; columns: indices in the order computed)."""
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
    chunk_rows: int = 4096,
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
    chunk_rows : int, default 4096
        Rows read from the stores at a time when accumulating moments.
    progress : bool, default True

    Returns
    -------
    SimilarityResult
    """
    indices = _parse_indices(indices)
    if not pairs:
        raise ValueError("no language pairs")
    missing = sorted({lang for pair in pairs for lang in pair} - set(stores))
    if missing:
        raise ValueError(f"pairs name languages without vectors: {missing} (have {list(stores)})")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    identity, _, stored = _check_stores(stores)
    n = check_aligned(stores)
    layers = resolve_layers(layers, stored)
    focus = layers[len(layers) // 2] if focus_layer is None else resolve_layers([focus_layer], stored, what="focus_layer")[0]
    model = model_label(identity)
    rownorm = "cka_debiased" in indices
    on_moments = [i for i in indices if INDICES[i].reads == "moments"]
    on_vectors = [i for i in indices if INDICES[i].reads == "vectors"]
    started = time.perf_counter()
    rows, details = [], []

    def record(layer: int, a: str, b: str, name: str, result: Any, note: str) -> None:
        count = result.n_scored if isinstance(result, RetrievalResult) else result.n
        rows.append((model, layer, f"{a}-{b}", a, b, name, float(result), int(count), note))
        details.extend((layer, f"{a}-{b}", name, q, v) for q, v in _details(result).items())

    bar = tqdm(total=len(layers) * len(pairs), desc="similarity", unit="pair", disable=not progress or None)
    for layer in layers:
        for a, b in pairs:
            if on_moments:
                stats = _stream_stats(stores[a], stores[b], layer, rownorm=rownorm, chunk_rows=chunk_rows)
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
        neurons = pd.concat([pd.DataFrame({"model": model, "layer": layer, "pair": f"{a}-{b}",
                                           "neuron": np.arange(len(results[a, b].per_neuron)),
                                           "r": results[a, b].per_neuron}) for a, b in pairs], ignore_index=True)
    return matrix, neurons


# --------------------------------------------------------------------------------------------- the run


class SimilarityConfig(ModelOptions, IndexOptions):
    """Settings of ``crossling similarity`` (a YAML file with these keys, or the command's flags).

    Model loading and batching: :class:`~crossling.config.ModelOptions`; the indices' settings:
    :class:`IndexOptions`. ``pairs`` None means ``"en-*"`` when English is among the languages, else ``"all"``. ``layers`` None
    means every hidden state. Extraction is always of every hidden state (one forward pass; the stores are
    reusable by any later run), ``layers`` only selects what is compared. ``store_dir`` None keeps the
    stores in ``out/stores``; point several runs at one folder to share them. ``blas_threads`` limits the
    BLAS threads during the index computation (None leaves the library's default).
    """

    # IndexOptions is frozen (a result records it); a run's settings stay assignable like every RunConfig
    model_config = ConfigDict(frozen=False)

    model: str
    corpus: str
    languages: Optional[CommaList] = None
    pairs: Optional[str] = None
    indices: CommaList = list(DEFAULT_INDICES)
    layers: LayerList = None
    focus_layer: Optional[int] = None
    anc_matrix: bool = True
    per_neuron: bool = True
    limit: Optional[int] = None
    prefix: str = ""
    pooling: Literal["mean", "first", "last"] = "mean"
    chunk_rows: int = 4096
    blas_threads: Optional[int] = 1
    store_dir: Optional[Path] = None
    out: Path

    @field_validator("indices")
    @classmethod
    def _known_indices(cls, value):
        return _parse_indices(value)

    @field_validator("pairs", mode="before")
    @classmethod
    def _join_pairs(cls, value):
        return ",".join(value) if isinstance(value, (list, tuple)) else value

    def index_options(self) -> IndexOptions:
        return IndexOptions(**self.model_dump(include=set(IndexOptions.model_fields)))


@dataclass(frozen=True)
class SimilarityStudy:
    """What :func:`run_similarity` computed and wrote.

    Attributes
    ----------
    result : SimilarityResult
    manifest : dict
        The provenance written to ``manifest.json``.
    out : Path
    files : list of Path
        Every file written (tables, figures, manifest, report section).
    """

    result: SimilarityResult
    manifest: dict
    out: Path
    files: list[Path] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        """The tidy table (model, layer, pair, lang_x, lang_y, index, value, n, note)."""
        return self.result.table


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("crossling", "numpy", "scipy", "pandas", "torch", "transformers", "tokenizers", "matplotlib",
                    "threadpoolctl"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    if out["crossling"] == "not installed":
        import crossling

        out["crossling"] = crossling.__version__
    return out


def _blas_limit(threads: int | None):
    if threads is None:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def run_similarity(config: SimilarityConfig, *, progress: bool = True) -> SimilarityStudy:
    """Run the study: read the corpus, extract (or reuse) the stores, compute every index, write everything.

    Writes into ``config.out``: ``config.yaml``; ``similarity``, ``similarity_details``,
    ``similarity_summary``, ``anc_matrix`` and ``per_neuron_anc`` (parquet + csv); ``figures/*.png``;
    ``manifest.json`` (provenance) and ``report.json`` (the section of ``crossling report``).

    Raises
    ------
    AlignmentError
        When the languages' sentences do not pair up (parallel text files of different lengths, stores
        whose sentence ids differ).
    ValueError
        For fewer than two languages, unknown pairs or indices.
    """
    from crossling.data.corpus import load_corpus
    from crossling.extraction.extract import ExtractionOptions
    from crossling.extraction.store import extract_to_store

    started = time.perf_counter()
    corpus = load_corpus(config.corpus, config.languages)
    if len(corpus) < 2:
        raise ValueError(f"the similarity study compares languages: {config.corpus} gave {list(corpus)} "
                         "(name at least two with --languages)")
    if config.limit is not None:  # the first sentences of every language: parallel corpora stay aligned
        corpus = {lang: sentences[: config.limit] for lang, sentences in corpus.items()}
    languages = list(corpus)
    spec = config.pairs or ("en-*" if "en" in languages else "all")
    pairs = parse_pairs(spec, languages)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    config.write(out)

    lm = config.load_model(config.model)
    extraction = ExtractionOptions(level="sentence", pooling=config.pooling, batch_size=config.batch_size,
                                   max_length=config.max_length, prefix=config.prefix)
    store_root = Path(config.store_dir) if config.store_dir is not None else out / "stores"
    stores = {lang: extract_to_store(lm, sentences, store_root, extraction, progress=progress)
              for lang, sentences in corpus.items()}
    identity = lm.identity()
    del lm  # the indices need the memory more than the model
    extracted = time.perf_counter()

    with _blas_limit(config.blas_threads):
        result = compute_similarity(
            stores, pairs, indices=config.indices, layers=config.layers, focus_layer=config.focus_layer,
            anc_matrix=config.anc_matrix, per_neuron=config.per_neuron, options=config.index_options(),
            chunk_rows=config.chunk_rows, progress=progress)

    files = _write_outputs(result, out)
    manifest = {
        "study": "cross-lingual similarity (Del and Fishel 2022)",
        "model": identity,
        "corpus": config.corpus,
        "languages": languages,
        "pairs": [f"{a}-{b}" for a, b in pairs],
        "n": result.n,
        "layers": result.layers,
        "focus_layer": result.focus_layer,
        "indices": {name: {"reads": INDICES[name].reads,
                           "options": {o: getattr(result.options, o) for o in INDICES[name].options}}
                    for name in config.indices},
        "extraction": extraction.as_dict(),
        "stores": {lang: {"path": str(store.path), "key": store.manifest["key"],
                          "corpus_checksum": store.manifest["corpus_checksum"],
                          "n_sentences": store.manifest["n_sentences"],
                          "truncated_inputs": store.manifest["truncated_inputs"],
                          "extraction_seconds": store.manifest["seconds"]}
                   for lang, store in stores.items()},
        "degenerate": {"values": int((result.table["note"] != "").sum()),
                       "messages": sorted(set(result.table.loc[result.table["note"] != "", "note"]))[:20]},
        "blas_threads": config.blas_threads,
        "chunk_rows": config.chunk_rows,
        "seconds": {"extraction (this run)": round(extracted - started, 3), "indices": round(result.seconds, 3),
                    "total": round(time.perf_counter() - started, 3)},
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": config.model_dump(mode="json"),
    }
    from crossling._utils.io import atomic_write_text

    files.append(atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False,
                                                                        default=str)))
    files.append(_write_report(result, out, identity))
    return SimilarityStudy(result=result, manifest=manifest, out=out, files=files)


def _write_outputs(result: SimilarityResult, out: Path) -> list[Path]:
    from crossling._utils.io import write_table
    from crossling.similarity import plots

    files = [*write_table(result.table, out, "similarity"), *write_table(result.details, out, "similarity_details"),
             *write_table(result.summary(), out, "similarity_summary")]
    if result.anc_matrix is not None:
        files += write_table(result.anc_matrix, out, "anc_matrix")
    if result.per_neuron is not None:
        files += write_table(result.per_neuron, out, "per_neuron_anc")
    figures = out / "figures"
    labels = {name: INDICES[name].label for name in INDICES}
    files.append(plots.plot_overview(result.table, figures / "overview.png", labels=labels))
    for name in dict.fromkeys(result.table["index"]):
        files.append(plots.plot_index_by_layer(result.table, name, figures / f"{name}.png", label=labels[name]))
    if result.anc_matrix is not None:
        files.append(plots.plot_anc_matrix(result.anc_matrix, figures / "anc_matrix.png",
                                           languages=result.languages))
    if result.per_neuron is not None:
        files.append(plots.plot_per_neuron(result.per_neuron, figures / "per_neuron_anc.png"))
    return files


_AXES = ("The x axis is the layer (0 = the embedding output, then each transformer layer in order); the y axis the "
         "index for a sentence and its translation. Thin lines are the language pairs, the thick black line "
         "their mean and the grey band the mean plus or minus one standard deviation across pairs. A rise "
         "means that layer represents a sentence and its translation more alike (more language-neutral); a "
         "fall means it pulls the languages apart (more language-specific, as layers that prepare the "
         "model's output for one language do).")


def _write_report(result: SimilarityResult, out: Path, identity: Mapping[str, Any]) -> Path:
    from crossling.report import write_section

    names = list(dict.fromkeys(result.table["index"]))
    pairs = ", ".join(f"{a}-{b}" for a, b in result.pairs)
    figures = [{"file": "figures/overview.png", "caption": "Every index against layer (mean over pairs, band: ± 1 sd)",
                "reading": "One panel per index, same axes as the figures below. Where the panels agree, the "
                           "layer-wise shape does not depend on the choice of index. " + _AXES}]
    figures += [{"file": f"figures/{name}.png", "caption": f"{INDICES[name].label} against layer, per language pair",
                 "reading": INDICES[name].reading + " " + _AXES} for name in names]
    if result.anc_matrix is not None:
        figures.append({
            "file": "figures/anc_matrix.png",
            "caption": f"ANC between every two languages at layer {result.focus_layer}",
            "reading": "Rows and columns are languages; each cell is the ANC of the pair at this layer (the "
                       "matrix is symmetric, the diagonal left blank). Brighter cells are pairs the layer "
                       "represents more alike; languages of one family or script often form brighter blocks."})
    if result.per_neuron is not None:
        figures.append({
            "file": "figures/per_neuron_anc.png",
            "caption": f"Per-neuron correlation at layer {result.focus_layer}",
            "reading": "Neurons sorted by their mean absolute correlation across the language pairs (x: rank, "
                       "y: |r|), with the range over pairs shaded. The left end are the most language-neutral "
                       "neurons (they take the same value for a sentence in every language); the right end "
                       "the most language-specific ones. ANC is the mean height of this curve."})
    tables = [{"file": "similarity_summary.parquet", "caption": "Mean over language pairs of every index, per layer",
               "max_rows": 100},
              {"file": "similarity.parquet", "caption": "Every value (tidy table)", "max_rows": 40}]
    summary = (f"Similarity of the representations of {result.n} parallel sentences in "
               f"{len(result.languages)} languages ({pairs}) by {model_label(identity)}, at each of "
               f"{len(result.layers)} layers, with {len(names)} indices ({', '.join(names)}); sentence "
               "vectors are mean-pooled over the tokens.")
    title = f"Cross-lingual similarity (Del and Fishel 2022): {model_label(identity)}"
    return write_section(out, {"title": title, "summary": summary,
                               "figures": figures, "tables": tables, "provenance": "manifest.json"})


def similarity_command(
    model: ModelFlag = None,
    corpus: ParallelCorpusFlag = None,
    languages: LanguagesFlag = None,
    pairs: Optional[str] = typer.Option(None, help="'en-*' (default when en is present), 'all', or 'en-de,en-fr'."),
    indices: Optional[str] = typer.Option(None, help=f"Comma-separated, from {', '.join(INDICES)} "
                                                      f"(default {','.join(DEFAULT_INDICES)})."),
    layers: LayersFlag = None,
    focus_layer: Optional[int] = typer.Option(None, help="Layer of the language-by-language ANC matrix and the "
                                                         "per-neuron breakdown (default: the middle layer)."),
    prefix: PrefixFlag = None,
    pooling: Optional[str] = typer.Option(None, help="mean (default), first or last token of each sentence."),
    limit: LimitFlag = None,
    batch_size: BatchSizeFlag = None,
    max_length: MaxLengthFlag = None,
    device: DeviceFlag = None,
    ridge: Optional[float] = typer.Option(None, help="Relative ridge of CCA/SVCCA/PWCCA (default: only when "
                                                     "there are too few sentences, with a warning)."),
    svcca_variance: Optional[float] = typer.Option(None, help="SVCCA: share of variance kept (default 0.99)."),
    svcca_dims: Optional[int] = typer.Option(None, help="SVCCA: keep exactly this many directions instead."),
    rbf_sigma: Optional[float] = typer.Option(None, help="RBF CKA bandwidth / median distance (default 0.8)."),
    metric: Optional[str] = typer.Option(None, help="Matching: cosine (default) or euclidean."),
    blas_threads: Optional[int] = typer.Option(None, help="BLAS threads for the indices (default 1)."),
    store_dir: StoreDirFlag = None,
    out: OutFlag = None,
    config: ConfigFlag = None,
) -> None:
    """Cross-lingual similarity (Del and Fishel 2022): ANC, CKA, CCA, SVCCA, PWCCA and matching, layer by layer.

    Extracts mean-pooled sentence representations of every language from all layers (cached vector stores),
    then compares every language pair at every layer. Writes a tidy table (parquet + csv), figures,
    manifest.json and a report section (see `crossling report`).
    """
    cfg = SimilarityConfig.resolve(
        config, model=model, corpus=corpus, languages=languages, pairs=pairs, indices=indices, layers=layers,
        focus_layer=focus_layer, prefix=prefix, pooling=pooling, limit=limit, batch_size=batch_size,
        max_length=max_length, device=device, ridge=ridge, svcca_variance=svcca_variance, svcca_dims=svcca_dims,
        rbf_sigma=rbf_sigma, metric=metric, blas_threads=blas_threads, store_dir=store_dir, out=out)
    study = run_similarity(cfg)
    summary = study.result.summary()
    typer.echo(f"{study.result.n} sentences, {len(study.result.pairs)} pairs, mean over pairs per layer:")
    typer.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    typer.echo(f"results in {study.out} ({study.manifest['seconds']['total']:.0f} s)")
