"""The latent-concept alignment study (Mousi, Durrani, Dalvi et al. 2024) on given token vectors.

:func:`compute_concepts` takes, per language, the token representations of every analysed layer and the
word forms, plus translation dictionaries; per layer it clusters each language alone (for CALIGN, both
directions of every language pair with a dictionary) and each language set jointly (for COLAP). It needs
no model and writes no file: :func:`crossling.concepts.run.run_concepts` extracts the vectors, builds the
dictionaries and writes the results. Every setting of the clustering and of the two measures is one
:class:`ConceptOptions`, which the run's configuration inherits.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Optional

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from crossling._utils.labels import pair_label
from crossling._utils.progress import progress_bar
from crossling.concepts.alignment import SIZE_RULES, CalignResult, calign, translation_mapping
from crossling.concepts.clustering import BACKENDS, Concepts, cluster_concepts, select_tokens
from crossling.concepts.dictionary import TranslationDictionary
from crossling.concepts.overlap import COUNT_UNITS, colap
from crossling.exceptions import ConfigError

__all__ = ["ConceptOptions", "ConceptsResult", "compute_concepts"]

Dictionary = TranslationDictionary | Mapping[str, Sequence[str]]

_CLUSTERING = ("k", "backend", "seed", "max_iter", "tol")
_SELECTION = ("min_count", "max_per_type")
_CALIGN = ("theta_a", "n_best", "size_tolerance", "size_rule", "min_types")


class ConceptOptions(BaseModel):
    """Settings of the token selection, the clustering, CALIGN and COLAP (recorded in every result).

    Attributes
    ----------
    k : int, default 600
        Concepts per clustering (the paper's K), the same for each language alone and for joint sets.
    backend : {"auto", "sklearn", "faiss", "ward"}, default "auto"
        Clustering algorithm: K-means of scikit-learn or faiss (``auto``: faiss when installed), or Ward
        agglomerative clustering (small sets only).
    seed : int, default 0
        Seeds the sampling of capped word occurrences and the K-means initialisation.
    max_iter : int, default 100
        K-means iterations at most.
    tol : float, default 1e-4
        K-means stopping tolerance (each library's own rule; see ``cluster_concepts``).
    min_count : int, default 1
        A word seen fewer times in a language is not clustered.
    max_per_type : int, optional
        At most this many occurrences of a word are clustered, drawn at random (seeded), as in the released
        scripts of Mousi et al. (default 15); ``null`` in a YAML file keeps every occurrence.
    theta_a : float, default 0.8
        CALIGN: fraction in (0, 1] of a concept's words that must have a translation in the other concept.
    n_best : int, default 10
        CALIGN: translations per word taken from the dictionary (the paper's N).
    size_tolerance : float, default 0.4
        CALIGN: how far in [0, 1] two aligned concepts' sizes may differ (the paper's tau).
    size_rule : {"symmetric", "one-sided"}, default "symmetric"
        CALIGN size rule: the paper's text (both ways) or the released script (only a bound on the target).
    min_types : int, default 6
        CALIGN: a concept needs this many distinct words to count ("more than five").
    theta_o : float, default 0.3
        COLAP: share in (0, 1] two languages must each reach for a concept to mix them.
    colap_by : {"tokens", "types"}, default "tokens"
        COLAP: count a language's share by tokens (the released script) or by distinct words.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    cli_panel: ClassVar[str] = "Concepts"

    k: int = Field(default=600, ge=1)
    backend: Literal[BACKENDS] = "auto"  # type: ignore[valid-type]
    seed: int = Field(default=0, ge=0)
    max_iter: int = Field(default=100, ge=1)
    tol: float = Field(default=1e-4, ge=0)
    min_count: int = Field(default=1, ge=1)
    max_per_type: Optional[int] = Field(default=15, ge=1)
    theta_a: float = Field(default=0.8, gt=0, le=1)
    n_best: int = Field(default=10, ge=1)
    size_tolerance: float = Field(default=0.4, ge=0, le=1)
    size_rule: Literal[SIZE_RULES] = "symmetric"  # type: ignore[valid-type]
    min_types: int = Field(default=6, ge=1)
    theta_o: float = Field(default=0.3, gt=0, le=1)
    colap_by: Literal[COUNT_UNITS] = "tokens"  # type: ignore[valid-type]

    def record(self) -> dict[str, dict[str, Any]]:
        """The settings grouped as a manifest records them.

        Returns
        -------
        dict
            ``clustering`` (k, backend, seed, max_iter, tol, min_count, max_per_type), ``calign`` (theta_a,
            n_best, size_tolerance, size_rule, min_types) and ``colap`` (theta_o, by).
        """
        return {"clustering": {name: getattr(self, name) for name in _CLUSTERING + _SELECTION},
                "calign": {name: getattr(self, name) for name in _CALIGN},
                "colap": {"theta_o": self.theta_o, "by": self.colap_by}}


@dataclass(frozen=True)
class ConceptsResult:
    """Results of :func:`compute_concepts`.

    CALIGN and COLAP are percentages (0-100), as in the paper; their columns say so.

    Attributes
    ----------
    calign : pandas.DataFrame
        One row per (layer, direction): ``layer, pair, direction, source, target, calign_percent, n_aligned,
        n_eligible, n_source_concepts``; ``pair`` labels the unordered pair (languages in the result's
        order), ``direction`` the source first (:func:`~crossling._utils.labels.pair_label`: ``en-de``).
    colap : pandas.DataFrame
        One row per (layer, language set): ``layer, languages, colap_percent, n_overlapping, n_concepts``;
        ``languages`` is the set's label (``en-de-fr``).
    clusterings : pandas.DataFrame
        One row per clustering: ``layer, clustering, backend, k, n_tokens, inertia, n_iter, converged, seed``.
    concepts : dict
        (layer, clustering name) -> :class:`~crossling.concepts.clustering.Concepts`; the name is a language
        (``en``) or a set's label (``en-de``).
    alignments : dict
        (layer, source, target) -> :class:`~crossling.concepts.alignment.CalignResult`.
    dictionaries : dict
        (source, target) -> translations used (source word -> best-first targets), for rendering examples.
    dictionary_provenance : dict
        Direction label -> what produced its dictionary.
    languages : list of str
        The languages, in the order of the vectors given.
    layers : list of int
        The layer number of each analysed layer.
    directions : list of (str, str)
        The CALIGN directions (source, target).
    colap_sets : list of tuple of str
        The language sets clustered jointly.
    tokens : dict
        Language -> ``n_words`` (given), ``n_allowed`` (after ``keep``), ``n_selected`` (clustered).
    token_filter : list of str or None
        The languages whose tokens ``keep`` restricted.
    dim : int
        Width of the vectors.
    options : ConceptOptions
    seconds : float
        Wall time of the computation.
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

    def summary(self) -> pd.DataFrame:
        """One row per layer: CALIGN of every direction, then COLAP of every set, side by side.

        Returns
        -------
        pandas.DataFrame
            Columns ``layer``, ``calign_percent <direction>`` ... and ``colap_percent <set>`` ..., in the
            order computed.
        """
        parts = []
        if len(self.calign):
            parts.append(self.calign.pivot(index="layer", columns="direction", values="calign_percent")
                         .reindex(columns=list(dict.fromkeys(self.calign["direction"])))
                         .add_prefix("calign_percent "))
        if len(self.colap):
            parts.append(self.colap.pivot(index="layer", columns="languages", values="colap_percent")
                         .reindex(columns=list(dict.fromkeys(self.colap["languages"])))
                         .add_prefix("colap_percent "))
        table = pd.concat(parts, axis=1).reset_index()
        table.columns.name = None
        return table

    def listing(self) -> pd.DataFrame:
        """Every concept's words with their token counts, for every clustering.

        Returns
        -------
        pandas.DataFrame
            Columns ``layer, clustering, concept, language, word, count``; within a concept and language the
            most frequent word first.
        """
        frames = [c.counts().assign(layer=layer, clustering=name) for (layer, name), c in self.concepts.items()]
        cols = ["layer", "clustering", "concept", "language", "word", "count"]
        return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


_CALIGN_COLUMNS = ["layer", "pair", "direction", "source", "target", "calign_percent", "n_aligned", "n_eligible",
                   "n_source_concepts"]
_COLAP_COLUMNS = ["layer", "languages", "colap_percent", "n_overlapping", "n_concepts"]
_CLUSTERING_COLUMNS = ["layer", "clustering", "backend", "k", "n_tokens", "inertia", "n_iter", "converged", "seed"]


def compute_concepts(
    vectors: Mapping[str, np.ndarray | Sequence[np.ndarray]],
    forms: Mapping[str, Sequence[str]],
    dictionaries: Mapping[tuple[str, str], Dictionary],
    *,
    options: ConceptOptions = ConceptOptions(),
    keep: Mapping[str, np.ndarray] | None = None,
    layers: Sequence[int] | None = None,
    colap_sets: Sequence[Sequence[str]] | None = None,
    progress: bool = False,
) -> ConceptsResult:
    """CALIGN and COLAP on every layer.

    Per layer, each language of a CALIGN direction is clustered alone into ``options.k`` concepts
    (:func:`~crossling.concepts.clustering.cluster_concepts`) and CALIGN is computed for every direction
    (:func:`~crossling.concepts.alignment.calign`); each language set is clustered jointly and its COLAP
    computed (:func:`~crossling.concepts.overlap.colap`). The tokens clustered are selected once per
    language (:func:`~crossling.concepts.clustering.select_tokens`, seeded with ``options.seed``) and are the
    same at every layer and in every joint clustering.

    Parameters
    ----------
    vectors : mapping of language to ndarray or sequence of ndarray
        Per language, an array of shape (n_layers, n_words, d) or a sequence of n_layers arrays of shape
        (n_words, d): word representations per layer (e.g. ``[store.vectors(layer) for layer in layers]`` of a vector
        store); every language must have the same n_layers and d. Memory-mapped arrays are read row-subset
        by row-subset, one layer at a time.
    forms : mapping of language to sequence of str, length n_words
        Word form of each row of ``vectors[language]``.
    dictionaries : mapping of (source, target) to TranslationDictionary or mapping
        One entry per CALIGN direction to compute; the language pairs are the unordered keys.
    options : ConceptOptions, default ConceptOptions()
        Token selection, clustering, CALIGN and COLAP settings.
    keep : mapping of language to bool ndarray of shape (n_words,), optional
        Tokens that may be selected (default: all). The released scripts of Mousi et al. cluster only
        the tokens the word alignment links (``crossling concepts --aligned-only``); a language
        missing from the mapping keeps all its tokens.
    layers : sequence of int, optional
        The layer number of each entry of the first axis of the vectors (default 0 .. n_layers-1).
    colap_sets : sequence of sequences of str, optional
        Language sets clustered jointly for COLAP (default: each language pair of ``dictionaries``).
    progress : bool, default False
        Show a progress bar over the clusterings.

    Returns
    -------
    ConceptsResult

    Raises
    ------
    ConfigError
        When there is nothing to compute, a direction or set names a language without vectors, a set has
        fewer than two languages, the layer numbers do not match the vectors, or a language has fewer
        tokens after selection than ``options.k``.
    ValueError
        When the vectors and forms do not fit together (shapes, missing forms, a malformed ``keep``).
    """
    started = time.perf_counter()
    languages = list(vectors)
    n_layers, dim = _check_inputs(vectors, forms)
    layers = list(range(n_layers)) if layers is None else [int(x) for x in layers]
    if len(layers) != n_layers or len(set(layers)) != n_layers:
        raise ConfigError(f"layers must give {n_layers} distinct layer numbers, got {layers}")
    if not dictionaries and not colap_sets:
        raise ConfigError("nothing to compute: give dictionaries (CALIGN) and/or colap_sets (COLAP)")
    directions = [tuple(key) for key in dictionaries]
    for direction in directions:
        _check_known(direction, languages)
    pairs = list(dict.fromkeys(tuple(sorted(d, key=languages.index)) for d in directions))
    sets = [tuple(s) for s in colap_sets] if colap_sets is not None else pairs
    for group in sets:
        _check_known(group, languages)
        if len(set(group)) < 2:
            raise ConfigError(f"a COLAP language set needs at least two languages, got {group}")
    k = options.k

    forms_arr = {lang: np.asarray(forms[lang], dtype=object) for lang in languages}
    allowed = _allowed_rows(keep or {}, forms_arr)
    selected = {
        lang: rows[select_tokens(forms_arr[lang][rows], min_count=options.min_count,
                                 max_per_type=options.max_per_type, seed=options.seed)]
        for lang, rows in allowed.items()
    }
    needed = {lang for d in directions for lang in d}
    for lang in needed:
        if selected[lang].size < k:
            raise ConfigError(
                f"language {lang!r} has {selected[lang].size} tokens after selection (min_count="
                f"{options.min_count}, max_per_type={options.max_per_type}"
                f"{', aligned tokens only' if keep and lang in keep else ''}), fewer than k={k}: lower k or give "
                "more text"
            )
    translations = {d: translation_mapping(dictionaries[d], options.n_best, *d) for d in directions}
    cluster_opts = {name: getattr(options, name) for name in _CLUSTERING}
    calign_opts = {name: getattr(options, name) for name in _CALIGN}

    calign_rows, colap_rows, cluster_rows = [], [], []
    concepts: dict[tuple[int, str], Concepts] = {}
    alignments: dict[tuple[int, str, str], CalignResult] = {}
    bar = progress_bar(len(layers) * (len(needed) + len(sets)), "clustering", "clustering", enabled=progress)
    for li, layer in enumerate(layers):
        for lang in [x for x in languages if x in needed]:
            rows = selected[lang]
            concepts[layer, lang] = cluster_concepts(
                np.asarray(vectors[lang][li])[rows], forms_arr[lang][rows], languages=lang, **cluster_opts
            )
            bar.update()
        for source, target in directions:
            res = calign(concepts[layer, source].types(source), concepts[layer, target].types(target),
                         translations[source, target], source_lang=source, target_lang=target, **calign_opts)
            alignments[layer, source, target] = res
            calign_rows.append((layer, pair_label(*sorted((source, target), key=languages.index)),
                                pair_label(source, target), source, target, res.calign_percent, res.n_aligned,
                                res.n_eligible, res.n_source_concepts))
        for group in sets:
            name = pair_label(*group)
            X = np.concatenate([np.asarray(vectors[lang][li])[selected[lang]] for lang in group])
            words = np.concatenate([forms_arr[lang][selected[lang]] for lang in group])
            langs = np.concatenate([np.full(selected[lang].size, lang, dtype=object) for lang in group])
            joint = cluster_concepts(X, words, languages=langs, **cluster_opts)
            bar.update()
            concepts[layer, name] = joint
            res_o = colap(joint.labels, joint.languages, forms=joint.forms, k=k, theta_o=options.theta_o,
                          by=options.colap_by, language_order=group)
            colap_rows.append((layer, name, res_o.colap_percent, res_o.n_overlapping, res_o.n_concepts))
        cluster_rows += [(layer, name, c.backend, c.k, len(c.labels), c.inertia, c.n_iter, c.converged, c.seed)
                         for (lay, name), c in concepts.items() if lay == layer]
    bar.close()

    return ConceptsResult(
        calign=pd.DataFrame(calign_rows, columns=_CALIGN_COLUMNS),
        colap=pd.DataFrame(colap_rows, columns=_COLAP_COLUMNS),
        clusterings=pd.DataFrame(cluster_rows, columns=_CLUSTERING_COLUMNS),
        concepts=concepts,
        alignments=alignments,
        dictionaries=translations,
        dictionary_provenance={
            pair_label(s, t): dictionaries[s, t].provenance if isinstance(dictionaries[s, t], TranslationDictionary)
            else {"source": "mapping", "n_words": len(dictionaries[s, t])}
            for s, t in directions
        },
        languages=languages,
        layers=layers,
        directions=directions,
        colap_sets=sets,
        tokens={lang: {"n_words": int(forms_arr[lang].size), "n_allowed": int(allowed[lang].size),
                       "n_selected": int(selected[lang].size)} for lang in languages},
        token_filter=sorted(keep) if keep else None,
        dim=dim,
        options=options,
        seconds=time.perf_counter() - started,
    )


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
