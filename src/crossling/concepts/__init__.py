"""Latent-concept alignment (Mousi, Durrani, Dalvi et al. 2024, "Exploring Alignment in Shared Cross-lingual Spaces").

- :func:`select_tokens`, :func:`cluster_concepts` -> :class:`Concepts`: K-means (scikit-learn or faiss)
  or Ward clusters of token representations; a concept's types are its distinct word forms.
- :func:`align_words`, :func:`lexical_translations`, :func:`build_dictionaries`,
  :class:`TranslationDictionary`: N-best p(t | s) from eflomal word alignments, or a user TSV.
- :func:`calign` -> :class:`CalignResult`: share of a language's concepts with a translation-equivalent
  concept in another language.
- :func:`colap` -> :class:`ColapResult`: share of jointly clustered concepts mixing languages.
- :func:`run_concepts` -> :class:`ConceptsStudy`, :func:`write_concepts_study`: the study per layer.
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
from crossling.concepts.study import ConceptsStudy, concept_listing, run_concepts, write_concepts_study

__all__ = [
    "BACKENDS",
    "COUNT_UNITS",
    "SIZE_RULES",
    "SYMMETRISATIONS",
    "CalignResult",
    "ColapResult",
    "Concepts",
    "ConceptsStudy",
    "TranslationDictionary",
    "WordAlignment",
    "align_words",
    "build_dictionaries",
    "calign",
    "cluster_concepts",
    "colap",
    "concept_listing",
    "inertia",
    "kmeans_plusplus",
    "lexical_translations",
    "run_concepts",
    "select_tokens",
    "symmetrise",
    "write_concepts_study",
]
