"""The joint-factorization study (Zhao, Ziser and Cohen 2023) from its input matrices to every table.

:func:`compute_factorization` takes the slices Omega_l of every (category, layer), keyed by language
(:mod:`crossling.factorization.crosscov`), and computes

- one PARAFAC2 per (category, layer) over its languages (:func:`~crossling.factorization.signatures.fit_signatures`:
  non-negative signatures, SVD initialisation), giving the tables ``signatures`` (category, layer, language,
  component, value), ``average_signatures`` (the mean signature over the components, with the word counts) and
  ``fits`` (relative error, iterations, convergence, spread over starts);
- Mann-Kendall trends of each language's average signature over layers with BH FDR (``trends``), Pearson
  correlations with language properties, with the words of each slice (``data_size_correlations``) and with
  downstream scores, each also averaged over layers (``mean_correlations``), the variance tests of the diverse
  set against the related sets (chi-square and F; by default on signatures fitted per set, ``set_signatures``),
  the spread over languages per layer (``signature_spread``) and the words per category and language
  (``word_counts``, the paper's Table 3) (:mod:`crossling.factorization.statistics`);
- cosine distances between signatures, their average over the UniMorph categories of a layer but part of
  speech (category :data:`AVERAGE`), UPGMA trees with their Newick text and their agreement with the WALS
  family/genus classification (:mod:`crossling.trees`).

The fits run as tasks of an engine (:mod:`crossling.engine`) in two stages: each start of each (category, layer)
is a task of its own (:func:`~crossling.factorization.signatures.fit_signature_start`), then each (category,
layer) is one task that keeps the best of its starts, computes its diagnostics and runs its per-set fits (whose
starts stay in that task). The local engine runs them here, in order; a Ray engine on the cluster's workers, and
the driver takes the results back in the same order, so the tables are the same.

It reads no file and loads no model: :func:`crossling.factorization.run.run_factorization` does that and writes
the result. Every table names its languages in a ``language`` column, in the analysis order; nothing is
positional. Which languages each category keeps (enough words) is decided beforehand by :func:`plan_fits`, so
that no Omega is computed for a language that is left out.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, NamedTuple, Optional

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crossling._utils.devices import device_problem
from crossling.config import LayerList, resolve_layers
from crossling.engine import Engine, LocalEngine, Shared, in_order
from crossling.exceptions import CategorySkippedWarning, ConfigError, ConvergenceWarning, UnstableFitWarning
from crossling.factorization.crosscov import ALL_WORDS
from crossling.factorization.diagnostics import FitDiagnostics, diagnose
from crossling.factorization.parafac2 import N_INNER, N_ITER_MAX, TOL, Parafac2Start
from crossling.factorization.signatures import N_STARTS, fit_signature_start, fit_signatures, signature_table
from crossling.factorization.statistics import (
    data_size_correlations,
    downstream_correlations,
    mean_correlations,
    property_correlations,
    signature_spread,
    trend_tests,
    variance_coverage,
    variance_sets,
    variance_tests,
)
from crossling.stats import Alternative
from crossling.trees import (
    DistanceMatrix,
    Tree,
    average_distances,
    cosine_distances,
    to_newick,
    tree_agreement,
    upgma,
)

__all__ = [
    "AVERAGE",
    "PAPER_PRESET",
    "FactorizationOptions",
    "FactorizationResult",
    "FitPlan",
    "analysis_layers",
    "category_slug",
    "compute_factorization",
    "plan_fits",
    "study_taxonomy",
]

AVERAGE = "average"
"""Category name of the distance matrices and trees averaged over the UniMorph categories of a layer (all but
part of speech, as Zhao, Ziser and Cohen 2023)."""
_NOT_AVERAGED = (ALL_WORDS, "Part of Speech")

_SKIPPED_COLUMNS = ["category", "language", "n_words", "reason"]

PAPER_PRESET: dict[str, Any] = {"orthonormal_v": False, "init": "svd", "n_iter_max": 100, "tol": 1e-8,
                                "acceleration": "linesearch", "n_inner": 5, "n_starts": 1}
"""The original study's fit (``preset: paper``): Zhao, Ziser and Cohen's settings as issue 13 records them (full
rank, SVD start, 100 iterations, one start, no constraint on V) and TensorLy's ``parafac2`` defaults for the rest
(line search, five inner sweeps, tolerance 1e-8)."""
_FIT_OPTIONS = ("orthonormal_v", "init", "n_iter_max", "tol", "acceleration", "n_inner", "n_starts", "seed",
                "normalize_slices")


class FactorizationOptions(BaseModel):
    """Settings of the fits and the analyses (each recorded in the provenance).

    The fit settings default to the well-posed fit of :mod:`crossling.factorization.signatures` (V with
    orthonormal columns, three starts, fits that stop at their tolerance well within the budget, the criterion
    and the comparison with the other candidates in that module's docstring); ``preset: paper`` gives the
    original study's instead (:data:`PAPER_PRESET`), and options given explicitly override either.

    Attributes
    ----------
    preset : {"default", "paper"}, default "default"
        "paper": the original study's fit (Zhao, Ziser and Cohen 2023, through TensorLy): no constraint on V,
        100 iterations, tolerance 1e-8, one start from the SVD, with line search and five inner sweeps. Its
        signatures grow with the iteration budget; the fits table and the report say so.
    rank : int, optional
        PARAFAC2 rank k. Default: full rank, min(d, min_l d_l), the study's setting (768 for its models).
        The average signature is a mean over the k components, so runs are comparable only at the same k;
        the cost grows with k (``--rank 50`` for a quick look).
    orthonormal_v : bool, default True
        Constrain the shared factor V to orthonormal columns: the fit then always has a minimum and the
        signatures cannot diverge (off: the original study's unconstrained fit).
    init : {"svd", "random"}, default "svd"
        Start of the first PARAFAC2 start (the others are random).
    n_iter_max : int, default 1000
        PARAFAC2 iterations per start at most (the original study ran 100).
    tol : float, default 1e-6
        PARAFAC2 stopping rule (relative change of the sum of squared residuals); 0 runs ``n_iter_max``
        iterations.
    acceleration : {"momentum", "linesearch", "none"}, default "momentum"
        How iterations are sped up (:func:`crossling.factorization.parafac2.parafac2`): Nesterov-type momentum with
        restart, Bro's line search (TensorLy's, the original study's), or plain ALS.
    n_inner : int, default 5
        CP sweeps per PARAFAC2 iteration (TensorLy's ``n_iter_parafac``).
    n_starts : int, default 3
        PARAFAC2 starts (the first from ``init``, the others random); the best fit is kept and the agreement
        of the starts is reported.
    seed : int, default 0
        Seed of the random PARAFAC2 starts and of the tree permutation tests.
    normalize_slices : bool, default False
        Divide each Omega_l by its Frobenius norm before the fit, so languages weigh equally.
    fit_device : str, optional
        Fit through torch on this device (``cpu``, ``cuda``, ``cuda:N``, ``auto``: the GPU when there is one);
        default numpy on the host's CPUs. Independent of ``device``, the model's. Checked before any work: a
        device this machine or torch build lacks is a one-line error.
    fit_dtype : {"float64", "float32"}, default "float64"
        Precision of the PARAFAC2 iterations; float32 takes 40-50% less time on the CPU (when it is safe:
        :func:`~crossling.factorization.parafac2.parafac2`, ``dtype``).
    n_permutations : int, default 9999
        Permutations of the tree-agreement test.
    heatmap_layers : list of int, optional
        Layers of the distance heatmaps; default the first, middle and last analysed layer.
    variance_layers : list of int, optional
        Layers of the variance test; default every analysed layer.
    variance_signatures : {"per_set", "joint"}, default "per_set"
        Signatures of the variance test. "per_set": one PARAFAC2 per language set (the diverse set, each related
        set) over its own languages, as Zhao, Ziser and Cohen (2023); "joint": those of the fit over all
        analysed languages (the earlier default; no extra fits).
    variance_alternative : {"two-sided", "greater", "less"}, default "two-sided"
        Alternative of the variance tests: "two-sided" asks whether the diverse set's variance differs from a
        related set's (the paper's question); "greater" whether it is larger (the earlier default).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    cli_panel: ClassVar[str] = "PARAFAC2 and analyses"

    preset: Literal["default", "paper"] = "default"
    rank: Optional[int] = Field(default=None, ge=1)
    orthonormal_v: bool = True
    init: Literal["svd", "random"] = "svd"
    n_iter_max: int = Field(default=N_ITER_MAX, ge=1)
    tol: float = Field(default=TOL, ge=0)
    acceleration: Literal["momentum", "linesearch", "none"] = "momentum"
    n_inner: int = Field(default=N_INNER, ge=1)
    n_starts: int = Field(default=N_STARTS, ge=1)
    seed: int = 0
    normalize_slices: bool = False
    fit_device: Optional[str] = None
    fit_dtype: Literal["float64", "float32"] = "float64"
    n_permutations: int = Field(default=9999, ge=1)
    heatmap_layers: LayerList = None
    variance_layers: LayerList = None
    variance_signatures: Literal["per_set", "joint"] = "per_set"
    variance_alternative: Alternative = "two-sided"

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        # Before validation, so that only the options not given take the preset's values.
        if isinstance(data, dict) and data.get("preset") == "paper":
            data = {**PAPER_PRESET, **data}
        return data

    @field_validator("fit_device")
    @classmethod
    def _device_exists(cls, device: str | None) -> str | None:
        problem = device_problem(device, flag="--fit-device") if device is not None else None
        if problem:
            raise ValueError(problem)
        return device

    def backend_options(self) -> dict[str, Any]:
        """Where and in what precision the fits run: ``backend``, ``device`` and ``dtype`` of
        :func:`~crossling.factorization.signatures.fit_signatures`.

        Returns
        -------
        dict of str to object
        """
        return {"backend": "numpy" if self.fit_device is None else "torch", "device": self.fit_device,
                "dtype": self.fit_dtype}

    def fit_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`~crossling.factorization.signatures.fit_signatures` (rank aside).

        Returns
        -------
        dict of str to object
        """
        return {name: getattr(self, name) for name in _FIT_OPTIONS}


class FitPlan(NamedTuple):
    """Which languages each category keeps (see :func:`plan_fits`).

    Attributes
    ----------
    kept : dict of str to list of str
        Category -> its languages, in analysis order; only categories with 2 or more languages.
    skipped : DataFrame
        Every (category, language) left out: ``category, language, n_words, reason``.
    """

    kept: dict[str, list[str]]
    skipped: pd.DataFrame


def _skip_reason(n_words: int, n_labelled: int, min_words: int) -> str:
    lost = n_labelled - n_words
    detail = f" ({n_labelled} labelled, {lost} without a vector in one of the models)" if lost else ""
    return f"{n_words} words{detail}, fewer than min_words={min_words}"


def plan_fits(
    n_words: Mapping[tuple[str, str], int],
    *,
    languages: Sequence[str],
    categories: Sequence[str],
    min_words: int,
    n_labelled: Mapping[tuple[str, str], int] | None = None,
) -> FitPlan:
    """Keep, per category, the languages with at least ``min_words`` words; a category needs two languages.

    Parameters
    ----------
    n_words : mapping of (category, language) to int
        Words of the category with a vector from both models (a missing key counts 0).
    languages : sequence of str
        The analysis order.
    categories : sequence of str
    min_words : int
    n_labelled : mapping of (category, language) to int, optional
        Words carrying the category before alignment (a missing key: as many as ``n_words``); the reason of a
        skip then says how many were lost.

    Returns
    -------
    FitPlan

    Warns
    -----
    CategorySkippedWarning
        Naming the languages left out of each category.
    """
    kept: dict[str, list[str]] = {}
    skipped = []
    for category in categories:
        langs = []
        for lang in languages:
            n = int(n_words.get((category, lang), 0))
            if n >= min_words:
                langs.append(lang)
            else:
                labelled = n if n_labelled is None else int(n_labelled.get((category, lang), n))
                skipped.append((category, lang, n, _skip_reason(n, labelled, min_words)))
        if len(langs) == 1:
            skipped.append((category, langs[0], int(n_words[category, langs[0]]),
                            "the only language with enough words: a joint factorization needs at least 2 languages"))
            langs = []
        if langs:
            kept[category] = langs
    table = pd.DataFrame(skipped, columns=_SKIPPED_COLUMNS)
    if not table.empty:
        summary = table.groupby("category", sort=False)["language"].apply(",".join).to_dict()
        warnings.warn(f"languages left out of categories (see table 'skipped'): {summary}", CategorySkippedWarning,
                      stacklevel=2)
    return FitPlan(kept, table)


def analysis_layers(options: FactorizationOptions, layers: Sequence[int], available: Sequence[int]
                    ) -> tuple[list[int], list[int]]:
    """The layers of the distance heatmaps and of the variance test, checked against the analysed layers.

    Parameters
    ----------
    options : FactorizationOptions
        Its ``heatmap_layers`` and ``variance_layers`` (negative counts from the end of ``available``).
    layers : sequence of int
        The analysed layers, ascending.
    available : sequence of int
        The hidden states there are (``range(n_hidden_states)`` of the model).

    Returns
    -------
    heatmap_layers, variance_layers : list of int
        Ascending. Defaults: the first, middle and last analysed layer; every analysed layer.

    Raises
    ------
    ConfigError
        For a layer that does not exist or is not analysed.
    """
    layers = list(layers)
    heatmap = (sorted(resolve_layers(options.heatmap_layers, available, what="heatmap_layers"))
               if options.heatmap_layers is not None else sorted({layers[0], layers[len(layers) // 2], layers[-1]}))
    variance = (sorted(resolve_layers(options.variance_layers, available, what="variance_layers"))
                if options.variance_layers is not None else layers)
    for what, chosen in (("heatmap_layers", heatmap), ("variance_layers", variance)):
        if set(chosen) - set(layers):
            raise ConfigError(f"{what} {sorted(set(chosen) - set(layers))} are not among the analysed layers {layers}")
    return heatmap, variance


def category_slug(category: str) -> str:
    """The file-name form of a category: ``"All words"`` -> ``"all_words"``.

    Parameters
    ----------
    category : str

    Returns
    -------
    str
    """
    return category.lower().replace(" ", "_")


def study_taxonomy() -> pd.DataFrame:
    """The WALS family and genus of every language the study knows, keyed by ISO 639-1 code.

    Returns
    -------
    DataFrame
        Columns ``language`` (ISO 639-1), ``family``, ``genus`` (:func:`crossling.data.languages.language_table`).
    """
    from crossling.data.languages import language_table

    table = language_table()
    return table.drop(columns="language").rename(columns={"iso639_1": "language"})


@dataclass(frozen=True)
class FactorizationResult:
    """Every table of the study (see :func:`compute_factorization`).

    Attributes
    ----------
    signatures : DataFrame
        category, layer, language, component, value.
    average_signatures : DataFrame
        category, layer, language, value (mean signature over components), and n_words when word counts
        were given.
    fits : DataFrame
        category, layer, n_languages, languages, rank, relative_error, n_iter, converged, spread (of the
        errors over starts), n_starts, best_start, seconds, and the diagnostics of
        :class:`~crossling.factorization.diagnostics.FitDiagnostics`: min_congruence, congruence_pair,
        core_consistency, signature_growth, starts_at_best, start_spearman, start_spread, degenerate,
        unstable, problems.
    skipped : DataFrame
        category, language, n_words, reason: every (category, language) left out before the fits.
    trends : DataFrame
        One Mann-Kendall test per (category, language) over the layers
        (:func:`~crossling.factorization.statistics.trend_tests`).
    properties : DataFrame or None
        language, property, value (and whatever other columns were given): the language properties given.
    property_correlations : DataFrame or None
        category, layer, property, statistic, pvalue, n; only the properties that can be correlated (see
        ``skipped_analyses``).
    data_size_correlations : DataFrame or None
        category, layer, property ("data_size"), statistic, pvalue, n: with the words of each slice.
    mean_correlations : DataFrame or None
        category, property, mean_r, min_r, max_r, n_layers, significant_layers: the property and data-size
        correlations averaged over layers.
    variance_tests : DataFrame or None
        The chi-square and F variance tests per category, layer and related set.
    set_signatures : DataFrame or None
        category, layer, set, language, value, converged: the average signatures of the per-set fits of the
        variance test (None for ``variance_signatures="joint"`` or when no fit holds two sets).
    downstream_correlations : DataFrame or None
        category, layer, task, statistic, pvalue, n.
    signature_spread : DataFrame
        Per (category, layer): the spread of the average signature over languages.
    word_counts : DataFrame or None
        The paper's Table 3: one row per category, one column per language (analysis order) with its words
        (with a vector from both models), and ``fitted`` (the languages kept); None without word counts.
    distances : DataFrame
        category, layer, language_a, language_b, distance (cosine, between signatures); category
        :data:`AVERAGE` is the average over the UniMorph categories of a layer.
    trees : DataFrame
        category, layer, n_languages, languages, newick, cophenetic_r, pvalue, n_permutations, note.
    languages, categories, layers : tuple
        What was analysed, in order (categories: those fitted; layers: ascending).
    heatmap_layers, variance_layers : tuple of int
        The layers of the distance heatmaps and of the variance test.
    skipped_analyses : dict of str to str
        Analysis (a table that is None) -> why it was not computed.
    not_converged : tuple of (str, int)
        The (category, layer) fits that stopped at ``n_iter_max`` before meeting ``tol``.
    options : FactorizationOptions
    taxonomy : DataFrame
        language, family, genus: the classification the trees were compared with.
    distance_matrices : dict of (str, int) to DistanceMatrix
        The matrices behind ``distances``.
    upgma_trees : dict of (str, int) to Tree
        The trees behind ``trees`` (none where a distance was undefined).
    """

    signatures: pd.DataFrame
    average_signatures: pd.DataFrame
    fits: pd.DataFrame
    skipped: pd.DataFrame
    trends: pd.DataFrame
    properties: pd.DataFrame | None
    property_correlations: pd.DataFrame | None
    data_size_correlations: pd.DataFrame | None
    mean_correlations: pd.DataFrame | None
    variance_tests: pd.DataFrame | None
    set_signatures: pd.DataFrame | None
    downstream_correlations: pd.DataFrame | None
    signature_spread: pd.DataFrame
    word_counts: pd.DataFrame | None
    distances: pd.DataFrame
    trees: pd.DataFrame
    languages: tuple[str, ...]
    categories: tuple[str, ...]
    layers: tuple[int, ...]
    heatmap_layers: tuple[int, ...]
    variance_layers: tuple[int, ...]
    skipped_analyses: dict[str, str]
    not_converged: tuple[tuple[str, int], ...]
    options: FactorizationOptions
    taxonomy: pd.DataFrame = field(repr=False)
    distance_matrices: dict[tuple[str, int], DistanceMatrix] = field(repr=False)
    upgma_trees: dict[tuple[str, int], Tree] = field(repr=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables that were computed, by name (the names of the files a run writes).

        Returns
        -------
        dict of str to DataFrame
        """
        names = ("signatures", "average_signatures", "fits", "skipped", "word_counts", "trends", "signature_spread",
                 "properties", "property_correlations", "data_size_correlations", "mean_correlations",
                 "variance_tests", "set_signatures", "downstream_correlations", "distances", "trees")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


def _ordered(slices: Mapping[str, np.ndarray], languages: Sequence[str] | None, key: tuple[str, int]
             ) -> dict[str, np.ndarray]:
    """The slices of one fit in analysis order."""
    if languages is None:
        return dict(slices)
    unknown = [lang for lang in slices if lang not in languages]
    if unknown:
        raise ValueError(f"slices of {key} name languages {unknown} that are not among {list(languages)}")
    return {lang: slices[lang] for lang in languages if lang in slices}


def _rank(slices: Mapping[str, np.ndarray], options: FactorizationOptions) -> int:
    """The fit's rank: the option, else the full rank of the slices."""
    return options.rank or min(min(m.shape) for m in slices.values())


def _fit(slices: dict[str, np.ndarray], options: FactorizationOptions, starts: Sequence[Parafac2Start] | None = None
         ) -> tuple[Any, int, bool, float, FitDiagnostics]:
    """One fit (from its ``starts`` when they were computed elsewhere); returns it, its rank, whether it hit its
    budget, its seconds and its diagnostics. Other warnings pass through."""
    rank = _rank(slices, options)
    tic = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_signatures(slices, rank=rank, **options.fit_options(), **options.backend_options(), starts=starts)
    seconds = time.perf_counter() - tic
    budget_hit = False
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            budget_hit = True
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return fit, rank, budget_hit, seconds, diagnose(fit, list(slices.values()))


def _warn_untrusted(fits: pd.DataFrame) -> None:
    """One warning naming every degenerate or unstable fit, what was seen and what to do."""
    flagged = fits[fits["degenerate"] | fits["unstable"]]
    if flagged.empty:
        return
    shown = [f"{row.category} layer {row.layer}: {row.problems}" for row in flagged.head(5).itertuples()]
    more = f"{len(flagged) - 5} more, and " if len(flagged) > 5 else ""
    warnings.warn(f"{len(flagged)} of {len(fits)} PARAFAC2 fits are degenerate or unstable, so their signatures depend "
                  "on how they were computed: " + " | ".join(shown) + f" ({more}see the columns degenerate, unstable "
                  "and problems of the fits table)", UnstableFitWarning, stacklevel=3)


@dataclass(frozen=True)
class _Fitted:
    """What the tables need of one (category, layer): its joint fit's signatures and diagnostics (not its
    factors, which a cluster would otherwise send back) and the average signatures of its per-set fits."""

    S: np.ndarray
    rank: int
    relative_error: float
    n_iter: int
    converged: bool
    spread: float
    best_start: int
    budget_hit: bool
    seconds: float
    diagnostics: FitDiagnostics
    sets: list[pd.DataFrame]


_StartTask = tuple[tuple[str, int], Shared, int, FactorizationOptions]
_FitTask = tuple[tuple[str, int], Shared, list[tuple[Parafac2Start, float]], FactorizationOptions, bool]


def _start_task(task: _StartTask) -> tuple[Parafac2Start, float]:
    """One task: one start of a (category, layer)'s joint fit, and its seconds."""
    _, shared, index, options = task
    slices = shared.get()
    tic = time.perf_counter()
    start = fit_signature_start(slices, index, rank=_rank(slices, options), **options.fit_options(),
                                **options.backend_options())
    return start, time.perf_counter() - tic


def _fit_task(task: _FitTask) -> _Fitted:
    """One task: the joint fit of a (category, layer) from its starts, its diagnostics and, when asked, its per-set
    fits."""
    (category, layer), shared, starts, options, with_sets = task
    slices = shared.get()
    fit, rank, hit, seconds, diagnostics = _fit(slices, options, [start for start, _ in starts])
    seconds += sum(start_seconds for _, start_seconds in starts)
    sets = _set_signatures(slices, category, layer, options) if with_sets else []
    return _Fitted(fit.S, rank, fit.relative_error, fit.n_iter, fit.converged, fit.spread, fit.best_start, hit,
                   seconds, diagnostics, sets)


def compute_factorization(
    omegas: Mapping[tuple[str, int], Mapping[str, np.ndarray]] | Iterable[tuple[tuple[str, int], Mapping[str, Any]]],
    *,
    languages: Sequence[str] | None = None,
    n_words: Mapping[tuple[str, str], int] | None = None,
    properties: pd.DataFrame | None = None,
    scores: pd.DataFrame | None = None,
    skipped: pd.DataFrame | None = None,
    taxonomy: pd.DataFrame | None = None,
    options: FactorizationOptions = FactorizationOptions(),
    engine: Engine | None = None,
    progress: bool = False,
) -> FactorizationResult:
    """Fit every (category, layer) and compute every table of the study.

    Parameters
    ----------
    omegas : mapping or iterable of ((category, layer), mapping of language to ndarray (d_l, d))
        The slices Omega_l of each fit (:func:`crossling.factorization.crosscov.cross_covariances`), at least
        2 languages each. An iterable (e.g. a generator that computes one layer's Omegas at a time) is
        consumed once, as fits can start, and each fit's slices are released after it, so memory holds what
        the iterable holds (and, on a cluster, the slices of the fits in flight). Fits are taken in the order
        given (the run gives them layer by layer, ascending) and their rows come in that order.
    languages : sequence of str, optional
        The analysis order: each fit's slices are put in this order, and the average distances, variance
        test and tables follow it. Default: the languages in order of first appearance.
    n_words : mapping of (category, language) to int, optional
        Words behind each Omega_l (also of the languages left out); adds the ``n_words`` column of
        ``average_signatures``, the data-size correlations and the table ``word_counts``.
    properties : DataFrame, optional
        ``language, property, value`` (e.g. from :func:`crossling.data.languages.language_properties`): the
        property correlations. A property defined for fewer than 3 languages, or equal for all, is left out
        of them, with the reason in ``skipped_analyses``.
    scores : DataFrame, optional
        ``language, task, score``: the downstream correlations.
    skipped : DataFrame, optional
        The languages left out before the fits (:func:`plan_fits`), carried into the result.
    taxonomy : DataFrame, optional
        ``language, family, genus`` for the tree agreement; default :func:`study_taxonomy` (WALS).
    options : FactorizationOptions
        ``rank`` None: the full rank of each fit, min(d, min d_l) over its slices.
    engine : Engine, optional
        Where the fits run, one task per (category, layer) (:func:`crossling.engine.open_engine`); default
        this process.
    progress : bool, default False
        Show a progress display of the fits (needs ``omegas`` with a length: a mapping, or an iterable that
        has ``len``).

    Returns
    -------
    FactorizationResult

    Raises
    ------
    ValueError
        For no slices, a fit with fewer than 2 languages or a language outside ``languages``, word counts
        missing a fitted (category, language), or what PARAFAC2 rejects (a rank above a slice's size).
    ConfigError
        For heatmap or variance layers that are not analysed.

    Warns
    -----
    ConvergenceWarning
        Once, naming the fits that stopped at ``n_iter_max`` before meeting ``tol`` (each is also marked in
        the ``converged`` column of ``fits``, and of ``set_signatures`` for the per-set fits).

    UnstableFitWarning
        Once, naming every (category, layer) whose fit the diagnostics
        (:func:`~crossling.factorization.diagnostics.diagnose`) flag as degenerate or unstable, with what was
        measured and what to do (also in the ``degenerate``, ``unstable`` and ``problems`` columns of ``fits``).

    Notes
    -----
    With ``options.variance_signatures == "per_set"``, every (category, layer) of the variance layers whose
    languages hold 2 or more of the diverse set and of a related set
    (:func:`~crossling.factorization.statistics.variance_sets`) gets one more PARAFAC2 per such set, with the
    same settings as the joint fit.
    """
    items = omegas.items() if isinstance(omegas, Mapping) else omegas
    order = None if languages is None else list(languages)
    set_layers = _set_fit_layers(options)
    set_frames: list[pd.DataFrame] = []
    signature_frames, average_frames, fit_rows = [], [], []
    matrices: dict[tuple[str, int], DistanceMatrix] = {}
    seen: dict[str, None] = {}
    budget_hit: list[tuple[str, int]] = []
    fitted: list[tuple[tuple[str, int], list[str]]] = []  # (key, languages) of each task, in task order

    engine = engine if engine is not None else LocalEngine()
    total = len(omegas) if isinstance(omegas, Sized) else None
    shared: list[Shared | None] = []  # each fit's slices, handed to the engine once for its starts and its fit

    def start_tasks() -> Iterator[_StartTask]:
        for key, given in items:
            slices = _ordered(given, languages, key)
            del given
            fitted.append((key, list(slices)))
            shared.append(engine.share(slices))
            for index in range(options.n_starts):
                yield key, shared[-1], index, options

    def fit_tasks() -> Iterator[_FitTask]:
        starts = in_order(engine.imap(
            _start_task, start_tasks(), total=None if total is None else total * options.n_starts,
            desc="PARAFAC2 starts", unit="start", progress=progress and total is not None))
        for number, group in enumerate(zip(*[starts] * options.n_starts)):
            key, slices = fitted[number][0], shared[number]
            shared[number] = None  # the fit task holds them now
            yield key, slices, list(group), options, set_layers is not None and (not set_layers or key[1] in set_layers)

    results = in_order(engine.imap(_fit_task, fit_tasks(), total=total, desc="PARAFAC2", unit="fit",
                                   progress=progress and total is not None))
    for index, fit in enumerate(results):
        (category, layer), langs = fitted[index]
        rank, seconds = fit.rank, fit.seconds
        seen.update(dict.fromkeys(langs))
        if fit.budget_hit:
            budget_hit.append((category, layer))
        signature_frames.append(signature_table(langs, fit.S, category=category, layer=layer))
        average = pd.DataFrame({"category": category, "layer": layer, "language": langs, "value": fit.S.mean(axis=1)})
        if n_words is not None:
            missing = [lang for lang in langs if (category, lang) not in n_words]
            if missing:
                raise ValueError(f"n_words has no count for {missing} in category {category!r}")
            average["n_words"] = [int(n_words[category, lang]) for lang in langs]
        average_frames.append(average)
        fit_rows.append({"category": category, "layer": layer, "n_languages": len(langs),
                         "languages": ",".join(langs), "rank": rank, "relative_error": fit.relative_error,
                         "n_iter": fit.n_iter, "converged": fit.converged, "spread": fit.spread,
                         "n_starts": options.n_starts, "best_start": fit.best_start, "seconds": round(seconds, 3),
                         **fit.diagnostics.as_row()})
        matrices[category, layer] = cosine_distances(fit.S, labels=langs)
        set_frames += fit.sets
    if not fit_rows:
        raise ValueError("no slices to fit: omegas is empty")
    languages = list(seen) if languages is None else [lang for lang in languages if lang in seen]
    categories = list(dict.fromkeys(row["category"] for row in fit_rows))
    layers = sorted({row["layer"] for row in fit_rows})
    heatmap_layers, variance_layers = analysis_layers(options, layers, range(layers[-1] + 1))
    set_missed = _set_missed(set_frames)
    if budget_hit:
        shown = ", ".join(f"{c} layer {layer}" for c, layer in budget_hit[:10]) + (", ..." if len(budget_hit) > 10
                                                                                    else "")
        warnings.warn(f"{len(budget_hit)} of {len(fit_rows)} PARAFAC2 fits stopped at n_iter_max="
                      f"{options.n_iter_max} before meeting tol={options.tol:g}: {shown} (see the 'converged' "
                      "column of the fits table; raise n_iter_max)" + (f"; {set_missed} too" if set_missed else ""),
                      ConvergenceWarning, stacklevel=2)
    elif set_missed:
        warnings.warn(f"{set_missed} stopped at n_iter_max={options.n_iter_max} before meeting tol={options.tol:g} "
                      "(see the 'converged' column of the set_signatures table)", ConvergenceWarning, stacklevel=2)
    fits = pd.DataFrame(fit_rows)
    _warn_untrusted(fits)

    average = pd.concat(average_frames, ignore_index=True)
    skipped_analyses: dict[str, str] = {}
    correlations = None
    if properties is not None:
        usable, reasons = _usable_properties(properties)
        skipped_analyses.update({f"property_correlations: {name}": why for name, why in reasons.items()})
        if not usable.empty:
            correlations = property_correlations(average, usable)
    else:
        skipped_analyses["property_correlations"] = "no language properties given"
    sizes = data_size_correlations(average) if n_words is not None else None
    correlated = [table for table in (correlations, sizes) if table is not None]
    means = mean_correlations(pd.concat(correlated, ignore_index=True)) if correlated else None
    set_table = pd.concat(set_frames, ignore_index=True) if set_frames else None
    if options.variance_signatures == "per_set" and set_table is None:
        variance = None
        reason = variance_coverage(languages) or ("no fitted category holds 2 or more languages of the diverse set "
                                                  "and of a related set (the per-set fits need them)")
    else:
        variance, reason = variance_tests(average if set_table is None else set_table, languages,
                                          layers=variance_layers, alternative=options.variance_alternative)
    if variance is None:
        skipped_analyses["variance_tests"] = reason
    if scores is not None:
        downstream = downstream_correlations(average, scores)
    else:
        downstream = None
        skipped_analyses["downstream_correlations"] = "no scores table given (--scores)"
    taxonomy = study_taxonomy() if taxonomy is None else taxonomy
    distances, trees, upgma_trees, note = _trees(matrices, categories, languages, layers, taxonomy, options)
    if note:
        skipped_analyses["average_trees"] = note
    return FactorizationResult(
        signatures=pd.concat(signature_frames, ignore_index=True), average_signatures=average,
        fits=fits, skipped=pd.DataFrame(columns=_SKIPPED_COLUMNS) if skipped is None else skipped,
        trends=trend_tests(average[["category", "layer", "language", "value"]]), properties=properties,
        property_correlations=correlations, data_size_correlations=sizes, mean_correlations=means,
        variance_tests=variance, set_signatures=set_table, downstream_correlations=downstream,
        signature_spread=signature_spread(average),
        word_counts=None if n_words is None else _word_counts(n_words, order or languages, fit_rows),
        distances=distances, trees=trees, languages=tuple(languages), categories=tuple(categories),
        layers=tuple(layers), heatmap_layers=tuple(heatmap_layers), variance_layers=tuple(variance_layers),
        skipped_analyses=skipped_analyses, not_converged=tuple(budget_hit), options=options, taxonomy=taxonomy,
        distance_matrices=matrices, upgma_trees=upgma_trees)


def _set_fit_layers(options: FactorizationOptions) -> set[int] | None:
    """Layers that get per-set fits: None for none, an empty set for every layer (also when a layer is given
    from the end, which is resolved only once the analysed layers are known)."""
    if options.variance_signatures != "per_set":
        return None
    chosen = options.variance_layers
    return set() if chosen is None or any(layer < 0 for layer in chosen) else set(chosen)


def _set_signatures(slices: dict[str, np.ndarray], category: str, layer: int, options: FactorizationOptions
                    ) -> list[pd.DataFrame]:
    """Average signatures of one PARAFAC2 per language set of the variance test, over the fit's languages."""
    frames = []
    for name, members in variance_sets(list(slices)).items():
        fit = _fit({lang: slices[lang] for lang in members}, options)[0]
        frames.append(pd.DataFrame({"category": category, "layer": layer, "set": name, "language": members,
                                    "value": fit.S.mean(axis=1), "converged": bool(fit.converged)}))
    return frames


def _set_missed(frames: list[pd.DataFrame]) -> str:
    """"m of n per-set fits of the variance test" when m > 0 of them stopped at their budget, else ""."""
    converged = [bool(frame["converged"].iloc[0]) for frame in frames]
    missed = converged.count(False)
    return f"{missed} of {len(converged)} per-set fits of the variance test" if missed else ""


def _usable_properties(properties: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """The properties a correlation across languages can use, and why each other one cannot."""
    reasons = {}
    for name, group in properties.groupby("property", sort=False):
        values = group["value"].dropna()
        if len(values) < 3:
            reasons[name] = (f"defined for {len(values)} of {len(group)} languages; a correlation needs 3 "
                             "(e.g. a type-token ratio without lemmas or forms)")
        elif values.nunique() == 1:
            reasons[name] = f"the same value ({values.iloc[0]:g}) for every language: no correlation"
    return properties[~properties["property"].isin(list(reasons))], reasons


def _word_counts(n_words: Mapping[tuple[str, str], int], languages: Sequence[str], fit_rows: list[dict[str, Any]]
                 ) -> pd.DataFrame:
    """Table 3 of the paper: words per category (rows) and language (columns), with the languages fitted."""
    fitted: dict[str, dict[str, None]] = {}
    for row in fit_rows:
        fitted.setdefault(row["category"], {}).update(dict.fromkeys(row["languages"].split(",")))
    categories = list(dict.fromkeys(category for category, _ in n_words))
    return pd.DataFrame([{"category": category, **{lang: int(n_words.get((category, lang), 0)) for lang in languages},
                          "fitted": ",".join(lang for lang in languages if lang in fitted.get(category, {}))}
                         for category in categories])


def _tree_row(dm: DistanceMatrix, category: str, layer: int, taxonomy: pd.DataFrame, options: FactorizationOptions
              ) -> tuple[dict[str, Any], Tree | None]:
    row: dict[str, Any] = {"category": category, "layer": layer, "n_languages": len(dm.labels),
                           "languages": ",".join(dm.labels), "newick": None, "cophenetic_r": np.nan,
                           "pvalue": np.nan, "n_permutations": 0, "note": ""}
    if np.isnan(dm.values).any():
        row["note"] = "undefined distance (a zero signature): no tree"
        return row, None
    tree = upgma(dm)
    row["newick"] = to_newick(tree)
    unknown = [lang for lang in dm.labels if lang not in set(taxonomy["language"])]
    if unknown:
        row["note"] = f"no family/genus for {unknown}: no agreement test"
    elif len(dm.labels) < 3:
        row["note"] = "fewer than 3 languages: no agreement test"
    else:
        agreement = tree_agreement(tree, taxonomy, n_permutations=options.n_permutations, seed=options.seed)
        row.update(cophenetic_r=agreement.statistic, pvalue=agreement.pvalue, n_permutations=agreement.n_permutations)
    return row, tree


def _trees(matrices: dict[tuple[str, int], DistanceMatrix], categories: list[str], languages: list[str],
           layers: list[int], taxonomy: pd.DataFrame, options: FactorizationOptions
           ) -> tuple[pd.DataFrame, pd.DataFrame, dict[tuple[str, int], Tree], str]:
    """Distance and tree tables, per (category, layer) and averaged over the UniMorph categories per layer
    (part of speech left out).

    Adds the average matrices to ``matrices``; returns the tables, the trees and why there is no average tree
    ("" when there is one).
    """
    note = ""
    unimorph = [c for c in categories if c not in _NOT_AVERAGED]
    for layer in layers:
        mats = [matrices[c, layer] for c in unimorph if (c, layer) in matrices]
        if not mats:
            note = "no UniMorph category but part of speech was fitted: no average tree"
            continue
        present = {lang for m in mats for lang in m.labels}
        matrices[AVERAGE, layer] = average_distances(mats, labels=[lang for lang in languages if lang in present])
    rows, frames, trees = [], [], {}
    for (category, layer), dm in matrices.items():
        frame = dm.to_frame()
        frame.insert(0, "layer", layer)
        frame.insert(0, "category", category)
        frames.append(frame)
        row, tree = _tree_row(dm, category, layer, taxonomy, options)
        rows.append(row)
        if tree is not None:
            trees[category, layer] = tree
    return pd.concat(frames, ignore_index=True), pd.DataFrame(rows), trees, note
