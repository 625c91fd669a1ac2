"""Fixtures of the concept tests (the planted data lives in concepts_data.py)."""

from __future__ import annotations

import pytest

from crossling.concepts import ConceptOptions, compute_concepts

from .concepts_data import K, planted_study_inputs


@pytest.fixture(scope="session")
def planted_result():
    """The study on the planted data at layers 0, 6 and 12, scikit-learn K-means, one seed (0)."""
    vectors, forms, dictionaries = planted_study_inputs()
    return compute_concepts(vectors, forms, dictionaries, layers=[0, 6, 12],
                            options=ConceptOptions(k=K, backend="sklearn", seed=0, n_seeds=1))
