"""Every index at once: near 0 for independent data, 1 for identical data, and the same when streamed."""

from __future__ import annotations

import numpy as np

from crossling import Moments
from crossling.similarity import (
    RowNormMoments,
    anc,
    cca,
    linear_cka,
    pwcca,
    rbf_cka,
    retrieval_accuracy,
    svcca,
)

from .similarity_data import make_pair

MOMENT_INDICES = {
    "anc": anc,
    "anc_signed": lambda *a: anc(*a, absolute=False),
    "linear_cka": linear_cka,
    "linear_cka_debiased": lambda *a: linear_cka(*a, debiased=True),
    "cca": cca,
    "svcca": svcca,
    "svcca_dims": lambda *a: svcca(*a, dims=2),
    "pwcca": pwcca,
}


def test_all_indices_near_zero_for_independent_data():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(5000, 4)), rng.normal(size=(5000, 4))
    values = {name: f(X, Y).value for name, f in MOMENT_INDICES.items()}
    values["rbf_cka"] = rbf_cka(X[:1000], Y[:1000]).value
    values["rbf_cka_debiased"] = rbf_cka(X[:1000], Y[:1000], debiased=True).value
    values["retrieval"] = retrieval_accuracy(X, Y).value
    for name, value in values.items():
        assert abs(value) < 0.05, (name, value)


def test_all_indices_one_for_identical_data():
    X, _ = make_pair(500, 5, 5)
    values = {name: f(X, X).value for name, f in MOMENT_INDICES.items()}
    values["rbf_cka"] = rbf_cka(X, X).value
    values["retrieval"] = retrieval_accuracy(X, X).value
    for name, value in values.items():
        assert abs(value - 1) <= 1e-9, (name, value)


def test_streamed_shards_equal_one_pass_for_every_moment_index():
    X, Y = make_pair(400, 6, 6, seed=2)
    whole = RowNormMoments.from_arrays(X, Y)
    stream = RowNormMoments(6, 6)
    for a in range(0, 400, 37):  # shards computed separately, then merged as a map-reduce would
        stream.merge(RowNormMoments(6, 6).update(X[a:a + 37], Y[a:a + 37]))
    plain = Moments(6)
    for a in range(0, 400, 53):
        plain.update(X[a:a + 53], Y[a:a + 53])
    for name, f in MOMENT_INDICES.items():
        want = f(X, Y).value
        assert abs(f(whole).value - want) <= 1e-10, name
        assert abs(f(stream).value - want) <= 1e-10, name
        if name != "linear_cka_debiased":
            assert abs(f(plain).value - want) <= 1e-10, name
