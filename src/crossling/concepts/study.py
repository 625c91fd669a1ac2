"""The latent-concept alignment study (Mousi, Durrani, Dalvi et al. 2024) on given token vectors, with controls.

:func:`compute_concepts` takes, per language, the token representations of every analysed layer, the word
forms and (for the controls) the sentence of every token, plus translation dictionaries; per seed and layer
it clusters each language alone (for CALIGN, both directions of every language pair with a dictionary) and
each language set jointly (for COLAP). It needs no model and writes no file:
:func:`crossling.concepts.run.run_concepts` extracts the vectors, builds the dictionaries and writes the
results. Every setting of the clustering and of the two measures is one :class:`ConceptOptions`, which the
run's configuration inherits.

Beside every CALIGN and COLAP value, per layer and direction (or set), it reports the controls of
:mod:`crossling.concepts.controls`: the *sentence baseline* (no model: the tokens of consecutive blocks of
sentences form the concepts), the *random baseline* (random concepts), how sentence-bound the concepts
are, and how many aligned (overlapping) concepts share their most common sentence across languages; and,
when given, the *held-out* variant, in which the dictionaries come from one half of the corpus and the
concepts from the tokens of the other half, so no sentence contributes both a translation and a concept.

Every number is computed for ``n_seeds`` seeds (``seed``, ``seed + 1``, ...; each seeds the token sample,
K-means and the random baseline, and may come with its own dictionaries) and reported per seed
(``calign_seeds``, ``colap_seeds``) and as mean, standard deviation and range over seeds (``calign``,
``colap``).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Optional, Union

import numpy as np
import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from crossling._utils.labels import pair_label
from crossling.concepts.alignment import ELIGIBILITY, SIZE_RULES, CalignResult, translation_mapping
from crossling.concepts.clustering import BACKENDS, SAMPLINGS, Concepts, select_tokens
from crossling.concepts.controls import random_labels, sentence_labels
from crossling.concepts.dictionary import TranslationDictionary
from crossling.concepts.overlap import COUNT_UNITS, ColapResult
from crossling.concepts.seeds import over_seeds
from crossling.concepts.tasks import (
    CalignTask,
    Clustered,
    ClusteringTask,
    ColapTask,
    calign_direction,
    colap_with,
    run_task,
)
from crossling.config import split_commas
from crossling.engine import Engine, LocalEngine, in_order
from crossling.exceptions import ConfigError, DegenerateInputWarning

__all__ = ["DENOMINATORS", "ConceptOptions", "ConceptsResult", "HeldOut", "compute_concepts", "merge_results"]

Dictionary = Union[TranslationDictionary, Mapping[str, Sequence[str]]]
Dictionaries = Mapping[tuple[str, str], Dictionary]

DENOMINATORS = ("eligible", "k")
TOKENS_PER_CONCEPT_WARNING = 10
"""Below this many tokens per concept on average (n_tokens / K) the study warns: few concepts can reach six
types, so CALIGN rests on few eligible concepts."""

_CLUSTERING = ("k", "backend", "seed", "max_iter", "tol")
_SELECTION = ("min_count", "max_per_type")
_CALIGN = ("theta_a", "n_best", "size_tolerance", "size_rule", "min_types")
_READINGS = ("eligibility", "calign_denominator", "sampling", "colap_min_languages")

FloatList = Annotated[list[float], BeforeValidator(split_commas)]
IntList = Annotated[list[int], BeforeValidator(split_commas)]


class ConceptOptions(BaseModel):
    """Settings of the token selection, the clustering, CALIGN and COLAP (recorded in every result).

    Attributes
    ----------
    k : int, default 600
        Concepts per clustering (the paper's K), the same for each language alone and for joint sets (the
        held-out variant clusters half the sentences into K // 2).
    backend : {"auto", "sklearn", "faiss", "ward"}, default "auto"
        Clustering algorithm: K-means of scikit-learn or faiss (``auto``: faiss when installed), or Ward
        agglomerative clustering (small sets only).
    seed : int, default 0
        The first seed; seed ``seed + r`` seeds the sampling of capped word occurrences, K-means and the random
        baseline of the r-th run (and names its word-alignment replicate).
    n_seeds : int, default 3
        Runs with seeds ``seed``, ``seed + 1``, ...: every value is reported per seed and as mean and range.
    max_iter : int, default 100
        K-means iterations at most.
    tol : float, default 1e-4
        K-means stopping tolerance (each library's own rule; see ``cluster_concepts``).
    min_count : int, default 1
        A word seen fewer times in a language is not clustered.
    max_per_type : int, optional
        At most this many occurrences of a word are clustered (default 15, as the released scripts of Mousi
        et al.; the paper's text says 10); ``null`` in a YAML file keeps every occurrence.
    sampling : {"random", "first"}, default "random"
        Which occurrences of a capped word are clustered: a seeded random sample, or its first ones.
    theta_a : float, default 0.8
        CALIGN: fraction in (0, 1] of a concept's words that must have a translation in the other concept
        (the paper's 0.8; inclusive: exactly 80% counts).
    n_best : int, default 10
        CALIGN: translations per word taken from the dictionary (the paper's N).
    size_tolerance : float, default 0.4
        CALIGN: how far in [0, 1] two aligned concepts' sizes may differ (the paper's tau).
    size_rule : {"symmetric", "smaller", "one-sided", "script"}, default "symmetric"
        CALIGN size rule, a = source and b = target types: ``symmetric`` |a-b| <= tau max(a, b) (the paper's
        text), ``smaller`` |a-b| <= tau min(a, b), ``one-sided`` a >= (1-tau) b, ``script`` a >= tau b (the
        released script).
    min_types : int, default 6
        CALIGN: a concept needs this many distinct words to count ("more than five").
    eligibility : {"source", "both"}, default "source"
        CALIGN: the ``min_types`` rule applies to the source concept only (the released script), or to the
        target concept too.
    calign_denominator : {"eligible", "k"}, default "eligible"
        The CALIGN of the summary and the figures: aligned concepts over the eligible source concepts, or
        over all K (both are always in the tables).
    theta_o : float, default 0.3
        COLAP: share in (0, 1] two languages must each reach for a concept to mix them.
    colap_by : {"tokens", "types"}, default "tokens"
        COLAP: count a language's share by tokens (the released script) or by distinct words.
    colap_min_languages : int or "all", default 2
        COLAP: how many languages of a set must reach ``theta_o`` (``all``: every language of the set).
    sweep_theta_a : list of float
        CALIGN again for each of these theta_A values (comma-separated), on the same concepts, every seed.
    sweep_theta_o : list of float
        COLAP again for each of these theta_O values (comma-separated), on the same concepts, every seed.
    sweep_k : list of int
        CALIGN and COLAP again with each of these K (comma-separated): a clustering per value (first seed).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    cli_panel: ClassVar[str] = "Concepts"

    k: int = Field(default=600, ge=1)
    backend: Literal[BACKENDS] = "auto"  # type: ignore[valid-type]
    seed: int = Field(default=0, ge=0)
    n_seeds: int = Field(default=3, ge=1)
    max_iter: int = Field(default=100, ge=1)
    tol: float = Field(default=1e-4, ge=0)
    min_count: int = Field(default=1, ge=1)
    max_per_type: Optional[int] = Field(default=15, ge=1)
    sampling: Literal[SAMPLINGS] = "random"  # type: ignore[valid-type]
    theta_a: float = Field(default=0.8, gt=0, le=1)
    n_best: int = Field(default=10, ge=1)
    size_tolerance: float = Field(default=0.4, ge=0, le=1)
    size_rule: Literal[SIZE_RULES] = "symmetric"  # type: ignore[valid-type]
    min_types: int = Field(default=6, ge=1)
    eligibility: Literal[ELIGIBILITY] = "source"  # type: ignore[valid-type]
    calign_denominator: Literal[DENOMINATORS] = "eligible"  # type: ignore[valid-type]
    theta_o: float = Field(default=0.3, gt=0, le=1)
    colap_by: Literal[COUNT_UNITS] = "tokens"  # type: ignore[valid-type]
    colap_min_languages: Union[Annotated[int, Field(ge=1)], Literal["all"]] = 2
    sweep_theta_a: FloatList = []
    sweep_theta_o: FloatList = []
    sweep_k: IntList = []

    def seeds(self) -> list[int]:
        """The seed of every run: ``seed``, ``seed + 1``, ..., ``n_seeds`` of them.

        Returns
        -------
        list of int
        """
        return [self.seed + r for r in range(self.n_seeds)]

    def record(self) -> dict[str, dict[str, Any]]:
        """The settings grouped as a manifest records them.

        Returns
        -------
        dict
            ``clustering`` (k, backend, seed, max_iter, tol, min_count, max_per_type, n_seeds), ``calign``
            (theta_a, n_best, size_tolerance, size_rule, min_types), ``colap`` (theta_o, by), ``readings``
            (eligibility, calign_denominator, sampling, colap_min_languages: where the paper's text and its
            code differ) and ``sweeps`` (theta_a, theta_o, k).
        """
        return {"clustering": {**{name: getattr(self, name) for name in _CLUSTERING + _SELECTION},
                               "n_seeds": self.n_seeds},
                "calign": {name: getattr(self, name) for name in _CALIGN},
                "colap": {"theta_o": self.theta_o, "by": self.colap_by},
                "readings": {name: getattr(self, name) for name in _READINGS},
                "sweeps": {"theta_a": list(self.sweep_theta_a), "theta_o": list(self.sweep_theta_o),
                           "k": list(self.sweep_k)}}


@dataclass(frozen=True)
class HeldOut:
    """The held-out variant of one seed: concepts from one half of the sentences, dictionaries from the other.

    Attributes
    ----------
    sentences : ndarray of int
        The sentences (indices into the parallel corpus) whose tokens are clustered.
    dictionaries : mapping of (source, target) to dictionary
        Estimated from the other sentences only; one per CALIGN direction that the variant covers.
    """

    sentences: np.ndarray
    dictionaries: Dictionaries


@dataclass(frozen=True)
class ConceptsResult:
    """Results of :func:`compute_concepts`.

    CALIGN and COLAP are percentages (0-100), as in the paper; their columns say so. ``model`` labels the
    model in every table (one label per call; :func:`merge_results` joins the results of several models).

    Attributes
    ----------
    calign : pandas.DataFrame
        One row per (model, layer, direction), means over seeds: ``model, layer, pair, direction, source,
        target, calign_percent`` (over eligible source concepts) with ``calign_percent_sd, _min, _max``,
        ``calign_k_percent`` (over all K), ``n_aligned, n_eligible, n_source_concepts``; the controls
        ``sentence_baseline_percent, random_baseline_percent, boundness`` (mean share of an eligible
        concept's tokens from its most common sentence) and ``aligned_same_sentence`` (aligned concepts
        whose best target has the same most common sentence); the held-out variant's
        ``heldout_calign_percent`` (with ``_min, _max``), ``heldout_n_eligible``,
        ``heldout_sentence_baseline_percent`` and ``heldout_random_baseline_percent`` (NaN without it);
        ``n_seeds``. ``pair`` labels the unordered pair, ``direction`` the source first (``en-de``).
    colap : pandas.DataFrame
        One row per (model, layer, language set), means over seeds: ``model, layer, languages,
        colap_percent`` with ``colap_percent_sd, _min, _max``, ``n_overlapping, n_concepts``,
        ``sentence_baseline_percent, random_baseline_percent, boundness`` (mean over non-empty concepts),
        ``overlapping_same_sentence`` (overlapping concepts whose languages share their most common
        sentence), ``n_seeds``.
    calign_seeds, colap_seeds : pandas.DataFrame
        The same values per seed (``seed`` column; CALIGN rows also per ``variant``: ``all`` or ``heldout``).
    clusterings : pandas.DataFrame
        One row per clustering: ``model, layer, clustering, variant, seed, backend, k, n_tokens, n_empty,
        inertia, n_iter, converged, boundness``.
    sweeps : pandas.DataFrame
        ``model, parameter, value, layer, measure, label, seed, percent, n``: CALIGN (``n`` eligible
        concepts) or COLAP (``n`` non-empty concepts) for each swept theta_a, theta_o or K; empty without
        sweeps.
    concepts : dict
        (layer, clustering name) -> :class:`~crossling.concepts.clustering.Concepts` of the first seed; the
        name is a language (``en``) or a set's label (``en-de``).
    alignments : dict
        (layer, source, target) -> :class:`~crossling.concepts.alignment.CalignResult` of the first seed.
    overlaps : dict
        (layer, set label) -> :class:`~crossling.concepts.overlap.ColapResult` of the first seed.
    dictionaries : dict
        (source, target) -> translations used by the first seed (source word -> best-first targets).
    dictionary_provenance : dict
        Direction label -> what produced its dictionary (first seed).
    languages : list of str
        The languages, in the order of the vectors given.
    layers : list of int
        The layer number of each analysed layer.
    directions : list of (str, str)
        The CALIGN directions (source, target).
    colap_sets : list of tuple of str
        The language sets clustered jointly.
    tokens : dict
        Language -> ``n_words`` (given), ``n_allowed`` (after ``keep``), ``n_selected`` (clustered, first
        seed).
    token_filter : list of str or None
        The languages whose tokens ``keep`` restricted (CALIGN clusterings only).
    dim : int
        Width of the vectors.
    options : ConceptOptions
    seconds : float
        Wall time of the computation.
    models : list of str
        The model labels, in the order computed.
    seeds : list of int
        The seeds run.
    heldout_k : int or None
        K of the held-out clusterings (None without the variant).
    """

    calign: pd.DataFrame
    colap: pd.DataFrame
    clusterings: pd.DataFrame
    concepts: dict[tuple[int, str], Concepts]
    alignments: dict[tuple[int, str, str], CalignResult]
    dictionaries: dict[tuple[str, str], Mapping[str, Sequence[str]]]
    dictionary_provenance: dict[str, dict[str, Any]]
    languages: list[str]
    layers: list[int]
    directions: list[tuple[str, str]]
    colap_sets: list[tuple[str, ...]]
    tokens: dict[str, dict[str, int]]
    token_filter: list[str] | None
    dim: int
    options: ConceptOptions
    seconds: float
    calign_seeds: pd.DataFrame = field(default_factory=pd.DataFrame)
    colap_seeds: pd.DataFrame = field(default_factory=pd.DataFrame)
    sweeps: pd.DataFrame = field(default_factory=pd.DataFrame)
    overlaps: dict[tuple[int, str], ColapResult] = field(default_factory=dict)
    models: list[str] = field(default_factory=lambda: ["model"])
    seeds: list[int] = field(default_factory=list)
    heldout_k: int | None = None

    def summary(self) -> pd.DataFrame:
        """One row per layer: CALIGN of every direction, then COLAP of every set, side by side (seed means).

        CALIGN is over eligible concepts or over K as ``options.calign_denominator`` says. A second model's
        columns carry its label in parentheses (``calign_percent en-de (base)``).

        Returns
        -------
        pandas.DataFrame
            Columns ``layer``, ``calign_percent <direction>`` ... and ``colap_percent <set>`` ..., in the
            order computed.
        """
        value = "calign_percent" if self.options.calign_denominator == "eligible" else "calign_k_percent"
        parts = []
        for table, column, label, prefix in ((self.calign, value, "direction", "calign_percent"),
                                             (self.colap, "colap_percent", "languages", "colap_percent")):
            if not len(table):
                continue
            for model in self.models:
                rows = table[table["model"] == model]
                wide = (rows.pivot(index="layer", columns=label, values=column)
                        .reindex(columns=list(dict.fromkeys(rows[label]))))
                suffix = "" if model == self.models[0] else f" ({model})"
                parts.append(wide.rename(columns=lambda c, s=suffix, p=prefix: f"{p} {c}{s}"))
        table = pd.concat(parts, axis=1).reset_index()
        table.columns.name = None
        return table

    def listing(self) -> pd.DataFrame:
        """Every concept's words with their token counts, for every clustering of the first seed.

        Returns
        -------
        pandas.DataFrame
            Columns ``layer, clustering, concept, language, word, count``; within a concept and language the
            most frequent word first.
        """
        frames = [c.counts().assign(layer=layer, clustering=name) for (layer, name), c in self.concepts.items()]
        cols = ["layer", "clustering", "concept", "language", "word", "count"]
        return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


_CALIGN_KEYS = ["model", "layer", "pair", "direction", "source", "target"]
_CALIGN_VALUES = ["calign_percent", "calign_k_percent", "n_aligned", "n_eligible", "n_source_concepts",
                  "sentence_baseline_percent", "random_baseline_percent", "boundness", "aligned_same_sentence"]
_COLAP_KEYS = ["model", "layer", "languages"]
_COLAP_VALUES = ["colap_percent", "n_overlapping", "n_concepts", "sentence_baseline_percent",
                 "random_baseline_percent", "boundness", "overlapping_same_sentence"]
_CLUSTERING_COLUMNS = ["model", "layer", "clustering", "variant", "seed", "backend", "k", "n_tokens", "n_empty",
                       "inertia", "n_iter", "converged", "boundness"]
_SWEEP_COLUMNS = ["model", "parameter", "value", "layer", "measure", "label", "seed", "percent", "n"]


def compute_concepts(
    vectors: Mapping[str, np.ndarray | Sequence[np.ndarray]],
    forms: Mapping[str, Sequence[str]],
    dictionaries: Dictionaries | Sequence[Dictionaries],
    *,
    options: ConceptOptions = ConceptOptions(),
    sentences: Mapping[str, Sequence[int] | np.ndarray] | None = None,
    heldout: Sequence[HeldOut] | None = None,
    keep: Mapping[str, np.ndarray] | None = None,
    layers: Sequence[int] | None = None,
    colap_sets: Sequence[Sequence[str]] | None = None,
    model: str = "model",
    progress: bool = False,
    threads: int | None = None,
    engine: Engine | None = None,
) -> ConceptsResult:
    """CALIGN and COLAP on every layer and seed, with their controls.

    For each seed and layer, each language of a CALIGN direction is clustered alone into ``options.k``
    concepts (:func:`~crossling.concepts.clustering.cluster_concepts`) and CALIGN is computed for every
    direction (:func:`~crossling.concepts.alignment.calign`); each language set is clustered jointly and
    its COLAP computed (:func:`~crossling.concepts.overlap.colap`). The tokens clustered are selected per
    language and seed (:func:`~crossling.concepts.clustering.select_tokens`) and are the same at every
    layer and in every joint clustering of that seed. The sentence and random baselines are computed on
    the same tokens with the same dictionaries; the held-out variant clusters only the tokens of
    ``heldout[r].sentences`` into ``options.k // 2`` concepts (the same mean concept size) and aligns
    them with ``heldout[r].dictionaries``.

    Parameters
    ----------
    vectors : mapping of language to ndarray or sequence of ndarray
        Per language, an array of shape (n_layers, n_words, d) or a sequence of n_layers arrays of shape
        (n_words, d): word representations per layer (e.g. ``[store.vectors(layer) for layer in layers]`` of
        a vector store); every language must have the same n_layers and d. Memory-mapped arrays are read
        row-subset by row-subset, one layer at a time.
    forms : mapping of language to sequence of str, length n_words
        Word form of each row of ``vectors[language]``.
    dictionaries : mapping of (source, target) to dictionary, or a sequence of such mappings
        One entry per CALIGN direction to compute (a :class:`TranslationDictionary` or a mapping of a word
        to its translations, best first); the language pairs are the unordered keys. A sequence gives the
        dictionaries of each seed (``options.n_seeds`` of them, same keys); one mapping serves every seed.
    options : ConceptOptions, default ConceptOptions()
        Token selection, clustering, CALIGN and COLAP settings.
    sentences : mapping of language to array of int, length n_words, optional
        The sentence (index into the parallel corpus, the same for parallel sentences of every language) of
        each row. Needed by the sentence baseline, the sentence-boundness and the held-out variant; without
        it those controls are NaN.
    heldout : sequence of HeldOut, optional
        The held-out variant of each seed (``options.n_seeds`` items, or one for every seed); needs
        ``sentences``. Its dictionaries must cover every direction.
    keep : mapping of language to bool ndarray of shape (n_words,), optional
        Tokens that the CALIGN clusterings may select (default: all); the COLAP clusterings always select
        among all tokens. The released scripts of Mousi et al. cluster only the tokens the word alignment
        links (``crossling concepts --aligned-only``); a language missing from the mapping keeps all tokens.
    layers : sequence of int, optional
        The layer number of each entry of the first axis of the vectors (default 0 .. n_layers-1).
    colap_sets : sequence of sequences of str, optional
        Language sets clustered jointly for COLAP (default: each language pair of ``dictionaries``).
    model : str, default "model"
        The model's label in every table.
    progress : bool, default False
        Show a progress display per stage (per seed: the clusterings, then the CALIGN directions).
    threads : int, optional
        BLAS and OpenMP threads of each clustering (scikit-learn's K-means and faiss: their sums, and so the
        last bits of the centres, depend on the count); default the libraries' own.
    engine : Engine, optional
        Where the tasks run (:func:`crossling.engine.open_engine`); default this process. Per seed, one stage
        clusters every (layer, language, variant) and every (layer, language set) with its COLAP, the next
        aligns every (layer, direction, variant); a cluster's workers get the rows they cluster, not the
        memory maps.

    Returns
    -------
    ConceptsResult

    Raises
    ------
    ConfigError
        When there is nothing to compute, a direction or set names a language without vectors, a set has
        fewer than two languages, the layer numbers do not match the vectors, the dictionaries or held-out
        halves are not one per seed, the held-out variant lacks sentences or a direction, or a language has
        fewer tokens after selection than K.
    ValueError
        When the vectors, forms and sentences do not fit together (shapes, missing forms, a malformed
        ``keep``).

    Warns
    -----
    DegenerateInputWarning
        When a language has fewer than 10 tokens per concept on average (CALIGN then rests on few
        eligible concepts).
    """
    started = time.perf_counter()
    languages = list(vectors)
    n_layers, dim = _check_inputs(vectors, forms)
    layers = list(range(n_layers)) if layers is None else [int(x) for x in layers]
    if len(layers) != n_layers or len(set(layers)) != n_layers:
        raise ConfigError(f"layers must give {n_layers} distinct layer numbers, got {layers}")
    seeds = options.seeds()
    per_seed = _per_seed(dictionaries, len(seeds), "dictionaries")
    if not per_seed[0] and not colap_sets:
        raise ConfigError("nothing to compute: give dictionaries (CALIGN) and/or colap_sets (COLAP)")
    directions = [tuple(key) for key in per_seed[0]]
    if any([tuple(key) for key in d] != directions for d in per_seed):
        raise ConfigError("the dictionaries of every seed must cover the same directions")
    for direction in directions:
        _check_known(direction, languages)
    pairs = list(dict.fromkeys(tuple(sorted(d, key=languages.index)) for d in directions))
    sets = [tuple(s) for s in colap_sets] if colap_sets is not None else pairs
    for group in sets:
        _check_known(group, languages)
        if len(set(group)) < 2:
            raise ConfigError(f"a COLAP language set needs at least two languages, got {group}")
    forms_arr = {lang: np.asarray(forms[lang], dtype=object) for lang in languages}
    sent_arr = _check_sentences(sentences, forms_arr)
    halves = None if heldout is None else _per_seed(heldout, len(seeds), "heldout halves")
    if halves is not None:
        if sent_arr is None:
            raise ConfigError("the held-out variant needs the sentence of every token (sentences=...)")
        for half in halves:
            lacking = [pair_label(*d) for d in directions if d not in half.dictionaries]
            if lacking:
                raise ConfigError(f"the held-out dictionaries lack the directions {lacking}")
    needed = [lang for lang in languages if any(lang in d for d in directions)]
    study = _Study(options, languages, layers, directions, sets, needed, forms_arr, sent_arr,
                   _allowed_rows(keep or {}, forms_arr), model)
    study.check_sizes(keep)

    study.threads = threads
    engine = engine if engine is not None else LocalEngine()
    for r, seed in enumerate(seeds):
        translations = {d: translation_mapping(per_seed[r][d], options.n_best, *d) for d in directions}
        if r == 0:
            study.first_translations = translations
        held = None
        if halves is not None:
            held = (halves[r].sentences,
                    {d: translation_mapping(halves[r].dictionaries[d], options.n_best, *d) for d in directions})
        study.run_seed(seed, r == 0, vectors, translations, held, engine, progress)

    first = per_seed[0]
    return ConceptsResult(
        calign=_calign_summary(study.calign_rows),
        colap=over_seeds(pd.DataFrame(study.colap_rows, columns=[*_COLAP_KEYS, "seed", *_COLAP_VALUES]),
                         _COLAP_KEYS, _COLAP_VALUES, spread=["colap_percent"]),
        clusterings=pd.DataFrame(study.cluster_rows, columns=_CLUSTERING_COLUMNS),
        concepts=study.concepts,
        alignments=study.alignments,
        dictionaries=study.first_translations,
        dictionary_provenance={
            pair_label(s, t): first[s, t].provenance if isinstance(first[s, t], TranslationDictionary)
            else {"source": "mapping", "n_words": len(first[s, t])}
            for s, t in directions
        },
        languages=languages,
        layers=layers,
        directions=directions,
        colap_sets=sets,
        tokens=study.token_counts,
        token_filter=sorted(keep) if keep else None,
        dim=dim,
        options=options,
        seconds=time.perf_counter() - started,
        calign_seeds=pd.DataFrame(study.calign_rows, columns=_CALIGN_SEED_COLUMNS),
        colap_seeds=pd.DataFrame(study.colap_rows, columns=[*_COLAP_KEYS, "seed", *_COLAP_VALUES]),
        sweeps=pd.DataFrame(study.sweep_rows, columns=_SWEEP_COLUMNS),
        overlaps=study.overlaps,
        models=[model],
        seeds=seeds,
        heldout_k=study.heldout_k if halves is not None else None,
    )


_CALIGN_SEED_COLUMNS = [*_CALIGN_KEYS, "variant", "seed", *_CALIGN_VALUES]


class _Study:
    """The state of one :func:`compute_concepts` call: inputs, and the rows and objects collected."""

    def __init__(self, options, languages, layers, directions, sets, needed, forms, sentences, allowed, model):
        self.options, self.languages, self.layers = options, languages, layers
        self.directions, self.sets, self.needed = directions, sets, needed
        self.forms, self.sentences, self.allowed, self.model = forms, sentences, allowed, model
        self.universe = None if sentences is None else np.unique(np.concatenate(list(sentences.values())))
        self.heldout_k = max(1, options.k // 2)
        self.calign_rows: list[tuple] = []
        self.colap_rows: list[tuple] = []
        self.cluster_rows: list[tuple] = []
        self.sweep_rows: list[tuple] = []
        self.concepts: dict[tuple[int, str], Concepts] = {}
        self.alignments: dict[tuple[int, str, str], CalignResult] = {}
        self.overlaps: dict[tuple[int, str], ColapResult] = {}
        self.first_translations: dict[tuple[str, str], Mapping[str, Sequence[str]]] = {}
        self.token_counts: dict[str, dict[str, int]] = {}
        self.threads: int | None = None

    def select(self, rows: np.ndarray, lang: str, seed: int) -> np.ndarray:
        """The rows among ``rows`` that the selection rule keeps for this seed."""
        o = self.options
        picked = select_tokens(self.forms[lang][rows], min_count=o.min_count, max_per_type=o.max_per_type,
                               seed=seed, sampling=o.sampling)
        return rows[picked]

    def check_sizes(self, keep) -> None:
        """Fail when a language has fewer tokens than K; warn when it has fewer than 10 per concept."""
        k = self.options.k
        for lang in self.languages:
            n_calign = self.select(self.allowed[lang], lang, self.options.seed).size
            self.token_counts[lang] = {"n_words": int(self.forms[lang].size),
                                       "n_allowed": int(self.allowed[lang].size), "n_selected": int(n_calign)}
            if lang not in self.needed:
                continue
            if n_calign < k:
                raise ConfigError(
                    f"language {lang!r} has {n_calign} tokens after selection (min_count={self.options.min_count}"
                    f", max_per_type={self.options.max_per_type}"
                    f"{', aligned tokens only' if keep and lang in keep else ''}), fewer than k={k}: lower k or "
                    "give more text")
            if n_calign < TOKENS_PER_CONCEPT_WARNING * k:
                warnings.warn(
                    f"language {lang!r} has {n_calign} tokens for k={k} concepts ({n_calign / k:.1f} per concept): "
                    f"few concepts can reach {self.options.min_types} types, so CALIGN rests on few eligible "
                    "concepts; lower k or give more text",
                    DegenerateInputWarning, stacklevel=3)

    def clustering(self, vectors, li, rows, seed, k) -> ClusteringTask:
        """The clustering task, at layer index ``li``, of the tokens ``rows``: (language, row indices) pairs."""
        o = self.options
        return ClusteringTask(
            vectors=np.concatenate([np.asarray(vectors[lang][li])[r] for lang, r in rows]),
            forms=np.concatenate([self.forms[lang][r] for lang, r in rows]),
            languages=np.concatenate([np.full(r.size, lang, dtype=object) for lang, r in rows]),
            sentences=None if self.sentences is None else np.concatenate([self.sentences[lang][r] for lang, r in rows]),
            k=k, seed=seed, backend=o.backend, max_iter=o.max_iter, tol=o.tol, threads=self.threads)

    def cluster_row(self, clustered: Clustered, name, layer, variant) -> Concepts:
        """Record one clustering in the clusterings table; returns its concepts."""
        c = clustered.concepts
        self.cluster_rows.append((self.model, layer, name, variant, c.seed, c.backend, c.k, len(c.labels), c.n_empty,
                                  c.inertia, c.n_iter, c.converged, clustered.boundness))
        return c

    def run_seed(self, seed, first, vectors, translations, held, engine: Engine, progress: bool) -> None:
        """Every layer of one seed: clusterings, CALIGN and COLAP with their controls, sweeps.

        Two engine stages: every clustering of the seed (each language alone, in every variant, and each set
        jointly with its COLAP), then every CALIGN direction; the rows are then recorded in layer order.
        """
        o = self.options
        calign_rows = {lang: self.select(self.allowed[lang], lang, seed) for lang in self.needed}
        joint_rows = {lang: self.select(np.arange(self.forms[lang].size, dtype=np.int64), lang, seed)
                      for group in self.sets for lang in group}
        held_rows = None
        if held is not None:
            in_half = {lang: np.isin(self.sentences[lang], held[0]) for lang in self.needed}
            held_rows = {lang: self.select(self.allowed[lang][in_half[lang][self.allowed[lang]]], lang, seed)
                         for lang in self.needed}
            for lang, rows in held_rows.items():
                if rows.size < self.heldout_k:
                    raise ConfigError(f"the held-out half of {lang!r} has {rows.size} tokens, fewer than its "
                                      f"k={self.heldout_k}: lower k or give more text")
        swept_k = list(o.sweep_k) if first else []
        for k in swept_k:
            for lang in self.needed:
                if calign_rows[lang].size < k:
                    raise ConfigError(f"--sweep-k {k} is more than the {calign_rows[lang].size} tokens of {lang!r}")
        baselines = self.calign_baselines(calign_rows, translations, o.k, seed, self.universe)
        held_baselines = None if held is None else self.calign_baselines(
            held_rows, held[1], self.heldout_k, seed, np.asarray(held[0]))
        colap_baselines = {group: self.colap_baselines(group, joint_rows, seed) for group in self.sets}

        # (variant, k, rows) of the clusterings of each language alone, and of the CALIGN on them
        alone = [("all", o.k, calign_rows), *([("heldout", self.heldout_k, held_rows)] if held is not None else []),
                 *[(f"k={k}", k, calign_rows) for k in swept_k]]
        jointly = [("all", o.k), *[(f"k={k}", k) for k in swept_k]]
        keys = [key for li in range(len(self.layers))
                for key in [*((li, variant, lang) for variant, _, _ in alone for lang in self.needed),
                            *((li, variant, group) for variant, _ in jointly for group in self.sets)]]
        sizes = {variant: k for variant, k, _ in alone} | {variant: k for variant, k in jointly}
        rows_of = {variant: rows for variant, _, rows in alone}

        def clustering_tasks():
            for li, variant, name in keys:
                if isinstance(name, str):
                    yield self.clustering(vectors, li, [(name, rows_of[variant][name])], seed, sizes[variant])
                else:
                    yield ColapTask(self.clustering(vectors, li, [(lang, joint_rows[lang]) for lang in name], seed,
                                                    sizes[variant]), name, self.colap_settings(name),
                                    tuple(o.sweep_theta_o) if variant == "all" else ())

        done = dict(zip(keys, in_order(engine.imap(run_task, clustering_tasks(), total=len(keys),
                                                   desc=f"clustering (seed {seed})", unit="clustering",
                                                   progress=progress, cpus=self.threads))))
        aligned = self.align(done, alone, translations, held, engine, progress, seed)
        for li, layer in enumerate(self.layers):
            self.record_layer(li, layer, seed, first, done, aligned, baselines, held_baselines, colap_baselines,
                              swept_k)

    def align(self, done, alone, translations, held, engine: Engine, progress: bool, seed) -> dict:
        """CALIGN of every direction, layer and variant of one seed, one task each: (li, variant, direction) ->
        outcome."""
        o = self.options
        shared_translations = {"all": {d: engine.share(translations[d]) for d in self.directions}}
        if held is not None:
            shared_translations["heldout"] = {d: engine.share(held[1][d]) for d in self.directions}
        keys, tasks = [], []
        for li in range(len(self.layers)):
            for variant, _, _ in alone:
                shared = {lang: engine.share(done[li, variant, lang].concepts) for lang in self.needed}
                for s, t in self.directions:
                    keys.append((li, variant, (s, t)))
                    tasks.append(CalignTask(
                        shared[s], shared[t], shared_translations.get(variant, shared_translations["all"])[s, t], s,
                        t, self.calign_settings, controls=not variant.startswith("k="),
                        sweep_theta_a=tuple(o.sweep_theta_a) if variant == "all" else ()))
        return dict(zip(keys, in_order(engine.imap(run_task, tasks, desc=f"CALIGN (seed {seed})", unit="direction",
                                                    progress=progress))))

    def record_layer(self, li, layer, seed, first, done, aligned, baselines, held_baselines, colap_baselines,
                     swept_k) -> None:
        """The rows of one layer of one seed, in the order of the tables: clusterings, CALIGN, COLAP, sweeps."""
        o = self.options
        own = {lang: self.cluster_row(done[li, "all", lang], lang, layer, "all") for lang in self.needed}
        results = self.calign_all(aligned, li, layer, seed, "all", baselines)
        if first:
            self.concepts.update({(layer, lang): c for lang, c in own.items()})
            self.alignments.update({(layer, s, t): res for (s, t), res in results.items()})
        if held_baselines is not None:
            for lang in self.needed:
                self.cluster_row(done[li, "heldout", lang], lang, layer, "heldout")
            self.calign_all(aligned, li, layer, seed, "heldout", held_baselines)
        for group in self.sets:
            outcome = done[li, "all", group]
            joint = self.cluster_row(outcome.clustered, pair_label(*group), layer, "all")
            res = outcome.result
            self.colap_rows.append((self.model, layer, pair_label(*group), seed, res.colap_percent, res.n_overlapping,
                                    res.n_concepts, *colap_baselines[group], outcome.boundness, outcome.same_sentence))
            if first:
                self.concepts[layer, pair_label(*group)] = joint
                self.overlaps[layer, pair_label(*group)] = res
            for value, swept in zip(o.sweep_theta_o, outcome.swept):
                self.sweep_rows.append((self.model, "theta_o", value, layer, "colap", pair_label(*group), seed,
                                        swept.colap_percent, swept.n_concepts))
        for i, value in enumerate(o.sweep_theta_a):
            for s, t in self.directions:
                swept = aligned[li, "all", (s, t)].swept[i]
                self.sweep_rows.append((self.model, "theta_a", value, layer, "calign", pair_label(s, t), seed,
                                        swept.calign_percent, swept.n_eligible))
        for k in swept_k:
            variant = f"k={k}"
            for lang in self.needed:
                self.cluster_row(done[li, variant, lang], lang, layer, variant)
            for s, t in self.directions:
                res = aligned[li, variant, (s, t)].result
                self.sweep_rows.append((self.model, "k", k, layer, "calign", pair_label(s, t), seed,
                                        res.calign_percent, res.n_eligible))
            for group in self.sets:
                outcome = done[li, variant, group]
                self.cluster_row(outcome.clustered, pair_label(*group), layer, variant)
                self.sweep_rows.append((self.model, "k", k, layer, "colap", pair_label(*group), seed,
                                        outcome.result.colap_percent, outcome.result.n_concepts))

    @property
    def calign_settings(self) -> dict[str, Any]:
        """The keyword arguments of CALIGN (see :func:`~crossling.concepts.tasks.calign_direction`)."""
        o = self.options
        return {**{name: getattr(o, name) for name in _CALIGN}, "eligibility": o.eligibility}

    def colap_settings(self, group) -> dict[str, Any]:
        """The keyword arguments of COLAP for a language set (see :func:`~crossling.concepts.tasks.colap_with`)."""
        o = self.options
        needed = len(group) if o.colap_min_languages == "all" else o.colap_min_languages
        return {"theta_o": o.theta_o, "by": o.colap_by, "min_languages": needed}

    def calign_all(self, aligned, li, layer, seed, variant, baselines) -> dict:
        """CALIGN rows of every direction of one layer and variant with their controls; returns the results."""
        results = {}
        for s, t in self.directions:
            outcome = aligned[li, variant, (s, t)]
            res = results[s, t] = outcome.result
            sentence_base, random_base = baselines[s, t]
            pair = pair_label(*sorted((s, t), key=self.languages.index))
            self.calign_rows.append((self.model, layer, pair, pair_label(s, t), s, t, variant, seed,
                                     res.calign_percent, res.calign_k_percent, res.n_aligned, res.n_eligible,
                                     res.n_source_concepts, sentence_base, random_base, outcome.boundness,
                                     outcome.same_sentence))
        return results

    def calign_baselines(self, rows, translations, k, seed, universe) -> dict:
        """(sentence, random) baseline CALIGN of every direction on the given tokens."""
        labelled = {}
        for kind in ("sentence", "random"):
            concepts = {}
            for i, lang in enumerate(self.needed):
                if kind == "sentence" and universe is None:
                    continue
                labels = (sentence_labels(self.sentences[lang][rows[lang]], k, universe=universe) if kind == "sentence"
                          else random_labels(rows[lang].size, k, seed=(seed, i)))
                concepts[lang] = _Labelled(labels, self.forms[lang][rows[lang]], k)
            labelled[kind] = {(s, t): calign_direction(concepts[s], concepts[t], translations[s, t], s, t,
                                                       self.calign_settings)
                              for s, t in self.directions} if concepts else {}
        return {d: (labelled["sentence"][d].calign_percent if labelled["sentence"] else np.nan,
                    labelled["random"][d].calign_percent) for d in self.directions}

    def colap_baselines(self, group, joint_rows, seed) -> tuple[float, float]:
        """(sentence, random) baseline COLAP of one language set on its joint tokens."""
        k = self.options.k
        words = np.concatenate([self.forms[lang][joint_rows[lang]] for lang in group])
        langs = np.concatenate([np.full(joint_rows[lang].size, lang, dtype=object) for lang in group])
        settings = self.colap_settings(group)
        sentence_base = np.nan
        if self.sentences is not None:
            sent = np.concatenate([self.sentences[lang][joint_rows[lang]] for lang in group])
            sentence_base = colap_with(sentence_labels(sent, k, universe=self.universe), langs, words, group, k,
                                       settings).colap_percent
        random_base = colap_with(random_labels(words.size, k, seed=(seed, len(self.languages))), langs, words, group,
                                 k, settings).colap_percent
        return sentence_base, random_base


@dataclass(frozen=True)
class _Labelled:
    """A baseline labelling with the ``types`` interface of :class:`Concepts` (forms of one language)."""

    labels: np.ndarray
    forms: np.ndarray
    k: int

    def types(self, language: str | None = None) -> list[frozenset[str]]:
        out: list[set[str]] = [set() for _ in range(self.k)]
        for label, form in zip(self.labels, self.forms):
            out[label].add(form)
        return [frozenset(s) for s in out]


def _calign_summary(rows: list[tuple]) -> pd.DataFrame:
    """Seed means of the CALIGN rows, the held-out variant's beside the full one's."""
    table = pd.DataFrame(rows, columns=_CALIGN_SEED_COLUMNS)
    main = over_seeds(table[table["variant"] == "all"], _CALIGN_KEYS, _CALIGN_VALUES, spread=["calign_percent"])
    held = table[table["variant"] == "heldout"]
    names = {"calign_percent": "heldout_calign_percent", "n_eligible": "heldout_n_eligible",
             "sentence_baseline_percent": "heldout_sentence_baseline_percent",
             "random_baseline_percent": "heldout_random_baseline_percent"}
    if len(held):
        extra = over_seeds(held, _CALIGN_KEYS, list(names), spread=["calign_percent"])
        extra = extra.drop(columns=["calign_percent_sd", "n_seeds"]).rename(
            columns={**names, "calign_percent_min": "heldout_calign_percent_min",
                     "calign_percent_max": "heldout_calign_percent_max"})
        main = main.merge(extra, on=_CALIGN_KEYS, how="left")
    else:
        for name in ["heldout_calign_percent", "heldout_calign_percent_min", "heldout_calign_percent_max",
                     "heldout_n_eligible", "heldout_sentence_baseline_percent", "heldout_random_baseline_percent"]:
            main[name] = np.nan
    order = [*_CALIGN_KEYS, "calign_percent", "calign_percent_sd", "calign_percent_min", "calign_percent_max",
             "calign_k_percent", "n_aligned", "n_eligible", "n_source_concepts", "sentence_baseline_percent",
             "random_baseline_percent", "boundness", "aligned_same_sentence", "heldout_calign_percent",
             "heldout_calign_percent_min", "heldout_calign_percent_max", "heldout_n_eligible",
             "heldout_sentence_baseline_percent", "heldout_random_baseline_percent", "n_seeds"]
    return main[order]


def merge_results(results: Sequence[ConceptsResult]) -> ConceptsResult:
    """Join the results of several models on the same inputs (e.g. a fine-tuned model and its base).

    The tables are stacked (each row keeps its ``model`` label); the concepts, alignments, overlaps and
    dictionaries of the first result are kept (they are what listings and examples show).

    Parameters
    ----------
    results : sequence of ConceptsResult
        Results of :func:`compute_concepts` with distinct ``model`` labels, the same layers, directions and
        sets.

    Returns
    -------
    ConceptsResult

    Raises
    ------
    ValueError
        When there is no result, labels repeat, or the results differ in layers, directions or sets.
    """
    if not results:
        raise ValueError("no result to merge")
    labels = [label for r in results for label in r.models]
    if len(set(labels)) != len(labels):
        raise ValueError(f"model labels repeat: {labels}")
    first = results[0]
    for other in results[1:]:
        if (other.layers, other.directions, other.colap_sets) != (first.layers, first.directions, first.colap_sets):
            raise ValueError("results to merge must have the same layers, directions and language sets")

    def stack(name: str) -> pd.DataFrame:
        return pd.concat([getattr(r, name) for r in results], ignore_index=True)

    return ConceptsResult(
        calign=stack("calign"), colap=stack("colap"), clusterings=stack("clusterings"), concepts=first.concepts,
        alignments=first.alignments, dictionaries=first.dictionaries,
        dictionary_provenance=first.dictionary_provenance, languages=first.languages, layers=first.layers,
        directions=first.directions, colap_sets=first.colap_sets, tokens=first.tokens,
        token_filter=first.token_filter, dim=first.dim, options=first.options,
        seconds=sum(r.seconds for r in results), calign_seeds=stack("calign_seeds"),
        colap_seeds=stack("colap_seeds"), sweeps=stack("sweeps"), overlaps=first.overlaps, models=labels,
        seeds=first.seeds, heldout_k=first.heldout_k)


def _per_seed(value, n_seeds: int, what: str) -> list:
    """One item per seed: a single item repeated, or a sequence of exactly ``n_seeds``."""
    if isinstance(value, Mapping) or isinstance(value, HeldOut):
        return [value] * n_seeds
    items = list(value)
    if len(items) == 1:
        return items * n_seeds
    if len(items) != n_seeds:
        raise ConfigError(f"got {len(items)} {what} for {n_seeds} seeds: give one, or one per seed")
    return items


def _check_inputs(vectors: Mapping[str, Any], forms: Mapping[str, Sequence[str]]) -> tuple[int, int]:
    """(n_layers, d), after checking every language has vectors of one shape and a form per row."""
    if not vectors:
        raise ValueError("no languages: vectors is empty")
    shapes = {}
    for lang, arr in vectors.items():
        layer_shapes = {np.shape(layer) for layer in arr} if not isinstance(arr, np.ndarray) else None
        if isinstance(arr, np.ndarray) and arr.ndim == 3:
            n_layers, n_words, dim = arr.shape
        elif layer_shapes is not None and len(layer_shapes) == 1 and len(next(iter(layer_shapes))) == 2:
            n_layers, (n_words, dim) = len(arr), next(iter(layer_shapes))
        else:
            got = arr.shape if isinstance(arr, np.ndarray) else sorted(layer_shapes or ())
            raise ValueError(f"vectors[{lang!r}] must have shape (n_layers, n_words, d) or be a sequence of "
                             f"(n_words, d) arrays of one shape, got {got}")
        if lang not in forms:
            raise ValueError(f"no word forms for language {lang!r}")
        if len(forms[lang]) != n_words:
            raise ValueError(f"language {lang!r}: {n_words} word vectors but {len(forms[lang])} forms")
        shapes[lang] = (n_layers, dim)
    if len(set(shapes.values())) != 1:
        raise ValueError(f"languages differ in (n_layers, d): {shapes}")
    return next(iter(shapes.values()))


def _check_sentences(sentences, forms: Mapping[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """The sentence index of every row as int64 arrays, after checking there is one per row of each language."""
    if sentences is None:
        return None
    out = {}
    for lang, words in forms.items():
        if lang not in sentences:
            raise ValueError(f"no sentence indices for language {lang!r}")
        arr = np.asarray(sentences[lang], dtype=np.int64)
        if arr.shape != words.shape:
            raise ValueError(f"language {lang!r}: {words.size} words but {arr.size} sentence indices")
        out[lang] = arr
    return out


def _allowed_rows(keep: Mapping[str, np.ndarray], forms: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per language, the row indices ``keep`` allows (all rows of a language it does not name)."""
    unknown = sorted(set(keep) - set(forms))
    if unknown:
        raise ValueError(f"keep names languages {unknown} that have no vectors; languages are {list(forms)}")
    out = {}
    for lang, words in forms.items():
        if lang not in keep:
            out[lang] = np.arange(words.size, dtype=np.int64)
            continue
        mask = np.asarray(keep[lang])
        if mask.dtype != bool or mask.shape != words.shape:
            raise ValueError(f"keep[{lang!r}] must be a bool array of shape {words.shape}, "
                             f"got {mask.dtype} {mask.shape}")
        out[lang] = np.flatnonzero(mask).astype(np.int64)
    return out


def _check_known(group: Sequence[str], languages: list[str]) -> None:
    missing = [lang for lang in group if lang not in languages]
    if missing:
        raise ConfigError(f"languages {missing} (in {tuple(group)}) have no vectors; languages are {languages}")
