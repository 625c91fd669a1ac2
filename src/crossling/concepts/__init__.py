"""Latent-concept alignment (Mousi, Durrani, Dalvi et al. 2024, "Exploring Alignment in Shared Cross-lingual Spaces").

- :func:`select_tokens`, :func:`cluster_concepts` -> :class:`Concepts`: K-means (scikit-learn or faiss)
  or Ward clusters of token representations; a concept's types are its distinct word forms.
- :func:`align_words`, :func:`lexical_translations`, :func:`build_dictionaries`,
  :class:`TranslationDictionary`, :func:`load_moses_lexicon`: N-best p(t | s) from eflomal word alignments
  (:func:`cached_alignment`: one replicate per seed, cached by key), a user TSV or a Moses lexical table.
- :func:`calign` -> :class:`CalignResult`: share of a language's concepts with a translation-equivalent
  concept in another language.
- :func:`colap` -> :class:`ColapResult`: share of jointly clustered concepts mixing languages.
- :func:`sentence_labels`, :func:`random_labels`, :func:`boundness`, :func:`shared_dominant_sentence`: the
  controls (sentence and random baselines, how sentence-bound a concept is).
- :func:`compute_concepts` -> :class:`ConceptsResult`, settings :class:`ConceptOptions`: the study on given
  vectors, per layer and seed, with its controls and the held-out variant (:class:`HeldOut`); results of
  several models joined by :func:`merge_results`; :func:`over_seeds` averages per-seed tables.
  ``crossling.concepts.run.run_concepts`` runs it end to end from a corpus and a model and writes the
  results; ``crossling.concepts.plots`` and ``crossling.concepts.report`` draw its figures and its report
  section.
"""

from crossling.concepts.alignment import ELIGIBILITY, SIZE_RULES, CalignResult, calign
from crossling.concepts.alignment_cache import cached_alignment
from crossling.concepts.clustering import (
    BACKENDS,
    SAMPLINGS,
    Concepts,
    cluster_concepts,
    inertia,
    kmeans_plusplus,
    select_tokens,
)
from crossling.concepts.controls import boundness, random_labels, sentence_labels, shared_dominant_sentence
from crossling.concepts.dictionary import (
    SYMMETRISATIONS,
    TranslationDictionary,
    WordAlignment,
    align_words,
    build_dictionaries,
    lexical_translations,
    load_moses_lexicon,
    symmetrise,
)
from crossling.concepts.overlap import COUNT_UNITS, ColapResult, colap
from crossling.concepts.seeds import over_seeds
from crossling.concepts.study import (
    DENOMINATORS,
    ConceptOptions,
    ConceptsResult,
    HeldOut,
    compute_concepts,
    merge_results,
)

__all__ = [
    "BACKENDS",
    "COUNT_UNITS",
    "DENOMINATORS",
    "ELIGIBILITY",
    "SAMPLINGS",
    "SIZE_RULES",
    "SYMMETRISATIONS",
    "CalignResult",
    "ColapResult",
    "ConceptOptions",
    "Concepts",
    "ConceptsResult",
    "HeldOut",
    "TranslationDictionary",
    "WordAlignment",
    "align_words",
    "boundness",
    "build_dictionaries",
    "cached_alignment",
    "calign",
    "cluster_concepts",
    "colap",
    "compute_concepts",
    "inertia",
    "kmeans_plusplus",
    "lexical_translations",
    "load_moses_lexicon",
    "merge_results",
    "over_seeds",
    "random_labels",
    "select_tokens",
    "sentence_labels",
    "shared_dominant_sentence",
    "symmetrise",
]
