"""fit_signatures and signature_table: a planted PARAFAC2 comes back, each signature with its language."""

from __future__ import annotations

import numpy as np
import pytest

from crossling.factorization.parafac2 import random_parafac2
from crossling.factorization.signatures import fit_signature_start, fit_signatures, signature_table


def test_fit_keeps_signatures_with_their_language_on_a_planted_model():
    planted = random_parafac2([9, 12, 7, 10], 8, 3, orthonormal_v=True, seed=3)
    names = ["fi", "en", "ja", "de"]
    forward = fit_signatures(dict(zip(names, planted.matrices)), rank=3, n_iter_max=3000, tol=1e-14)
    order = [2, 0, 3, 1]
    backward = fit_signatures({names[i]: planted.matrices[i] for i in order}, rank=3, n_iter_max=3000, tol=1e-14)
    a = signature_table(names, forward.S, category="Case", layer=4)
    b = signature_table([names[i] for i in order], backward.S, category="Case", layer=4)
    assert list(a.columns) == ["category", "layer", "language", "component", "value"] and len(a) == 12
    merged = a.merge(b, on=["category", "layer", "language", "component"])
    # Both fits stop at the same relative-error floor (~1e-7, where the cheap SSE formula's cancellation
    # ends the descent), so the two orders agree to ~1e-6, not to machine precision.
    np.testing.assert_allclose(merged["value_x"], merged["value_y"], rtol=1e-5)
    # the planted signatures come back (components matched by correlation), row by language
    assert forward.relative_error < 1e-6
    match = [int(np.argmax([abs(np.corrcoef(planted.S[:, j], forward.S[:, i])[0, 1]) for j in range(3)]))
             for i in range(3)]
    assert sorted(match) == [0, 1, 2]
    np.testing.assert_allclose(forward.S, planted.S[:, match], rtol=1e-4)
    with pytest.raises(ValueError, match="at least 2 languages"):
        fit_signatures({"fi": planted.matrices[0]}, rank=3)


def test_a_fit_from_starts_computed_on_their_own_is_the_same_fit():
    planted = random_parafac2([9, 12, 7, 10], 8, 3, orthonormal_v=True, noise=0.3, seed=3)
    omegas = dict(zip(["fi", "en", "ja", "de"], planted.matrices))
    options = dict(rank=3, n_iter_max=200, n_starts=3, seed=7)
    whole = fit_signatures(omegas, **options)
    starts = [fit_signature_start(omegas, index, **options) for index in range(3)]
    again = fit_signatures(omegas, starts=starts, **options)
    np.testing.assert_array_equal(again.S, whole.S)
    np.testing.assert_array_equal(again.start_errors, whole.start_errors)
    assert again.seeds == whole.seeds and again.best_start == whole.best_start
    # The study's defaults (orthonormal V, non-negative signatures) hold for the starts too.
    assert again.orthonormal_v and again.nonnegative
    with pytest.raises(ValueError, match="at least 2 languages"):
        fit_signature_start({"fi": planted.matrices[0]}, 0, rank=3)
    with pytest.raises(TypeError, match="takes no starts"):
        fit_signature_start(omegas, 0, starts=starts, **options)
