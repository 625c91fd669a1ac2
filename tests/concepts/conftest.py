"""Fixtures of the concept tests (the planted data lives in concepts_data.py)."""

from __future__ import annotations

import numpy as np
import pytest

from crossling.concepts import ConceptOptions, HeldOut, compute_concepts

from .concepts_data import K_SENT, N_SENT, K, planted_study_inputs, sentence_bound_inputs


@pytest.fixture(scope="session")
def planted_result():
    """The study on the planted data at layers 0, 6 and 12, scikit-learn K-means, one seed (0)."""
    vectors, forms, dictionaries = planted_study_inputs()
    return compute_concepts(vectors, forms, dictionaries, layers=[0, 6, 12],
                            options=ConceptOptions(k=K, backend="sklearn", seed=0, n_seeds=1))


@pytest.fixture(scope="session")
def bound_result():
    """The study on sentence-bound data (concepts = blocks of two sentences at layer 0), 3 seeds, with the held-out
    variant (concepts from the even sentences, dictionary from the odd ones) and sweeps."""
    vectors, forms, sentences, dictionaries = sentence_bound_inputs()
    even = np.arange(0, N_SENT, 2)
    # The held-out dictionary comes from the odd sentences: no word of an even sentence is in it.
    held = {d: {w: t for w, t in table.items() if int(w[1:].split("_")[0]) % 2 == 1}
            for d, table in dictionaries.items()}
    return compute_concepts(vectors, forms, dictionaries, sentences=sentences, heldout=[HeldOut(even, held)],
                            options=ConceptOptions(k=K_SENT, backend="sklearn", n_seeds=3,
                                                   sweep_theta_a=[0.5, 0.8], sweep_theta_o=[0.3], sweep_k=[K_SENT]))
