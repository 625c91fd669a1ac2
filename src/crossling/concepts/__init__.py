"""Latent-concept alignment (Mousi, Durrani, Dalvi et al. 2024, "Exploring Alignment in Shared Cross-lingual Spaces").

- :func:`select_tokens`, :func:`cluster_concepts` -> :class:`Concepts`: K-means (scikit-learn or faiss)
  or Ward clusters of token representations; a concept's types are its distinct word forms.
- :func:`align_words`, :func:`lexical_translations`, :func:`build_dictionaries`,
  :class:`TranslationDictionary`: N-best p(t | s) from eflomal word alignments, or a user TSV.
- :func:`calign` -> :class:`CalignResult`: share of a language's concepts with a translation-equivalent
  concept in another language.
- :func:`colap` -> :class:`ColapResult`: share of jointly clustered concepts mixing languages.
- :func:`compute_concepts` -> :class:`ConceptsResult`, settings :class:`ConceptOptions`: the study on given
  vectors, per layer (tables only). ``crossling.concepts.run.run_concepts`` runs it end to end from a
  corpus and a model and writes the results; ``crossling.concepts.plots`` and ``crossling.concepts.report``
  draw its figures and its report section.
"""

from crossling.concepts.alignment import SIZE_RULES, CalignResult, calign
from crossling.concepts.clustering import BACKENDS, Concepts, cluster_concepts, inertia, kmeans_plusplus, select_tokens
from crossling.concepts.dictionary import (
    SYMMETRISATIONS,
    TranslationDictionary,
    WordAlignment,
    align_words,
    build_dictionaries,
    lexical_translations,
    symmetrise,
)
from crossling.concepts.overlap import COUNT_UNITS, ColapResult, colap
from crossling.concepts.study import ConceptOptions, ConceptsResult, compute_concepts

__all__ = [
    "BACKENDS",
    "COUNT_UNITS",
    "SIZE_RULES",
    "SYMMETRISATIONS",
    "CalignResult",
    "ColapResult",
    "ConceptOptions",
    "Concepts",
    "ConceptsResult",
    "TranslationDictionary",
    "WordAlignment",
    "align_words",
    "build_dictionaries",
    "calign",
    "cluster_concepts",
    "colap",
    "compute_concepts",
    "inertia",
    "kmeans_plusplus",
    "lexical_translations",
    "select_tokens",
    "symmetrise",
]
