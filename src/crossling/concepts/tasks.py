"""The concept study's units of work, each one task of an engine (:mod:`crossling.engine`).

:func:`~crossling.concepts.study.compute_concepts` runs, per seed, two stages: every clustering (a language
alone, :class:`ClusteringTask`; a language set jointly with its COLAP, :class:`ColapTask`), then every CALIGN
direction with its controls (:class:`CalignTask`). A task holds its inputs (arrays, never memory maps: the rows a
clustering reads are gathered by the driver) and :func:`run_task` runs it; it reads no file and keeps no state,
so a cluster's worker computes what this process would, given the seed and ``threads``.

The measures with the study's settings, which the driver's baselines use too: :func:`calign_direction` and
:func:`colap_with`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from crossling._utils.threads import faiss_limit
from crossling.concepts.alignment import CalignResult, calign
from crossling.concepts.clustering import Concepts, cluster_concepts
from crossling.concepts.controls import boundness, dominant_sentences, shared_dominant_sentence
from crossling.concepts.overlap import ColapResult, colap
from crossling.engine import Shared
from crossling.exceptions import DegenerateInputWarning

__all__ = ["CalignOutcome", "CalignTask", "Clustered", "ClusteringTask", "ColapOutcome", "ColapTask",
           "calign_direction", "colap_with", "run_task"]


class _Typed(Protocol):
    def types(self, language: str | None = None) -> list[frozenset[str]]: ...


def calign_direction(source: _Typed, target: _Typed, translations: Mapping[str, Sequence[str]], s: str, t: str,
                     settings: Mapping[str, Any]) -> CalignResult:
    """CALIGN(s -> t) of two clusterings (or baseline labellings) with the study's settings.

    No eligible concept gives NaN, counted in the table's ``n_eligible = 0``: its warning is silenced here,
    since it would repeat for every layer and seed.

    Parameters
    ----------
    source, target : Concepts or an object with ``types(language)``
        The clusterings of the source and target languages.
    translations : mapping of str to sequence of str
        Source word -> target words, best first.
    s, t : str
        The source and target languages.
    settings : mapping
        Keyword arguments of :func:`~crossling.concepts.alignment.calign` (``theta_a, n_best, size_tolerance,
        size_rule, min_types, eligibility``).

    Returns
    -------
    CalignResult
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateInputWarning)
        return calign(source.types(s), target.types(t), translations, source_lang=s, target_lang=t, **settings)


def colap_with(labels: np.ndarray, languages: np.ndarray, forms: np.ndarray, group: Sequence[str], k: int,
               settings: Mapping[str, Any]) -> ColapResult:
    """COLAP of one joint labelling of the languages ``group`` with the study's settings.

    Parameters
    ----------
    labels, languages, forms : ndarray of shape (n,)
        Concept, language and word form of each token.
    group : sequence of str
        The languages of the set, in the order of the proportions.
    k : int
        Concepts of the labelling.
    settings : mapping
        ``theta_o, by, min_languages`` of :func:`~crossling.concepts.overlap.colap`.

    Returns
    -------
    ColapResult
    """
    return colap(labels, languages, forms=forms, k=k, language_order=group, **settings)


def _threads(threads: int | None) -> ExitStack:
    """BLAS and OpenMP (scikit-learn's K-means, faiss) threads of a clustering; None leaves them alone."""
    stack = ExitStack()
    if threads is not None:
        from threadpoolctl import threadpool_limits

        stack.enter_context(threadpool_limits(limits=threads))
        stack.enter_context(faiss_limit(threads))
    return stack


@dataclass(frozen=True)
class Clustered:
    """A clustering and the mean share of its concepts' tokens from their most common sentence.

    Attributes
    ----------
    concepts : Concepts
    boundness : float
        NaN without the tokens' sentences.
    """

    concepts: Concepts
    boundness: float


@dataclass(frozen=True)
class ClusteringTask:
    """K-means (or Ward) of some tokens into ``k`` concepts.

    Attributes
    ----------
    vectors : ndarray of shape (n, d)
        The tokens' vectors at one layer.
    forms, languages : ndarray of shape (n,), object
    sentences : ndarray of shape (n,), int64, or None
    k, seed : int
    backend : str
    max_iter : int
    tol : float
    threads : int or None
        BLAS and OpenMP threads of the clustering (the result depends on them in the last bits, so both engines
        use the same number); None: the libraries' defaults.
    """

    vectors: np.ndarray
    forms: np.ndarray
    languages: np.ndarray
    sentences: np.ndarray | None
    k: int
    seed: int
    backend: str
    max_iter: int
    tol: float
    threads: int | None

    def run(self) -> Clustered:
        """Cluster the tokens.

        Returns
        -------
        Clustered
        """
        with _threads(self.threads):
            concepts = cluster_concepts(self.vectors, self.forms, languages=self.languages, k=self.k,
                                        backend=self.backend, seed=self.seed, max_iter=self.max_iter, tol=self.tol,
                                        sentences=self.sentences)
        bound = np.nan if self.sentences is None else float(np.nanmean(
            boundness(concepts.labels, self.sentences, self.k)[0]))
        return Clustered(concepts, bound)


@dataclass(frozen=True)
class ColapOutcome:
    """A language set's joint clustering, its COLAP with the controls, and COLAP at every swept theta_O.

    Attributes
    ----------
    clustered : Clustered
    result : ColapResult
    boundness : float
        Mean share of a non-empty concept's tokens from its most common sentence (NaN without sentences).
    same_sentence : float
        Overlapping concepts whose languages share their most common sentence (NaN without sentences).
    swept : list of ColapResult
        One per value of the task's ``sweep_theta_o``.
    """

    clustered: Clustered
    result: ColapResult
    boundness: float
    same_sentence: float
    swept: list[ColapResult]


@dataclass(frozen=True)
class ColapTask:
    """A language set clustered jointly, then its COLAP.

    Attributes
    ----------
    clustering : ClusteringTask
        Of the set's tokens, language after language in the set's order.
    group : tuple of str
        The set's languages.
    settings : dict
        ``theta_o, by, min_languages`` (see :func:`colap_with`).
    sweep_theta_o : tuple of float
        COLAP again at each of these theta_O, on the same concepts.
    """

    clustering: ClusteringTask
    group: tuple[str, ...]
    settings: dict[str, Any]
    sweep_theta_o: tuple[float, ...] = ()

    def run(self) -> ColapOutcome:
        """Cluster, then measure.

        Returns
        -------
        ColapOutcome
        """
        clustered = self.clustering.run()
        joint = clustered.concepts
        result = colap_with(joint.labels, joint.languages, joint.forms, self.group, joint.k, self.settings)
        bound, same = np.nan, np.nan
        if joint.sentences is not None:
            share, _ = boundness(joint.labels, joint.sentences, joint.k)
            bound = float(np.nanmean(share))
            dominants = list(dominant_sentences(joint.labels, joint.sentences, joint.languages, self.group,
                                                joint.k).values())
            shared = np.ones(joint.k, dtype=bool)
            for other in dominants[1:]:
                shared &= shared_dominant_sentence(dominants[0], other)
            same = int((shared & result.overlapping).sum())
        swept = [colap_with(joint.labels, joint.languages, joint.forms, self.group, joint.k,
                            {**self.settings, "theta_o": value}) for value in self.sweep_theta_o]
        return ColapOutcome(clustered, result, bound, same, swept)


@dataclass(frozen=True)
class CalignOutcome:
    """One CALIGN direction with its controls, and CALIGN at every swept theta_A.

    Attributes
    ----------
    result : CalignResult
    boundness : float
        Mean share of an eligible source concept's tokens from its most common sentence (NaN without
        sentences, or without an eligible concept).
    same_sentence : float
        Aligned source concepts whose best target has the same most common sentence (NaN without sentences).
    swept : list of CalignResult
        One per value of the task's ``sweep_theta_a``.
    """

    result: CalignResult
    boundness: float
    same_sentence: float
    swept: list[CalignResult]


@dataclass(frozen=True)
class CalignTask:
    """CALIGN of one direction between two clusterings, with its sentence controls.

    Attributes
    ----------
    source, target : Shared
        The two :class:`Concepts` (shared: a clustering serves every direction it is in).
    translations : Shared
        Source word -> target words, best first.
    s, t : str
        The direction.
    settings : dict
        See :func:`calign_direction`.
    controls : bool
        Also the sentence controls (the main and held-out variants; not the swept K).
    sweep_theta_a : tuple of float
        CALIGN again at each of these theta_A, on the same concepts.
    """

    source: Shared
    target: Shared
    translations: Shared
    s: str
    t: str
    settings: dict[str, Any]
    controls: bool = True
    sweep_theta_a: tuple[float, ...] = ()

    def run(self) -> CalignOutcome:
        """Align.

        Returns
        -------
        CalignOutcome
        """
        source, target, translations = self.source.get(), self.target.get(), self.translations.get()
        result = calign_direction(source, target, translations, self.s, self.t, self.settings)
        bound, same = np.nan, np.nan
        if self.controls and source.sentences is not None:
            share_s, dom_s = boundness(source.labels, source.sentences, source.k)
            _, dom_t = boundness(target.labels, target.sentences, target.k)
            bound = float(np.nanmean(share_s[result.eligible])) if result.eligible.any() else np.nan
            aligned = np.flatnonzero(result.best_target >= 0)
            same = int(shared_dominant_sentence(dom_s[aligned], dom_t[result.best_target[aligned]]).sum())
        swept = [calign_direction(source, target, translations, self.s, self.t, {**self.settings, "theta_a": value})
                 for value in self.sweep_theta_a]
        return CalignOutcome(result, bound, same, swept)


def run_task(task: ClusteringTask | ColapTask | CalignTask) -> Any:
    """Run one task of the concept study (the function an engine maps over the tasks).

    Parameters
    ----------
    task : ClusteringTask, ColapTask or CalignTask

    Returns
    -------
    Clustered, ColapOutcome or CalignOutcome
    """
    return task.run()
