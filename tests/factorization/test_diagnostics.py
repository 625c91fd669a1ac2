"""Fit diagnostics: each measure against an independent computation, and the flags on degenerate and sound fits."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from crossling.factorization.diagnostics import (
    DEGENERATE_CONGRUENCE,
    FitDiagnostics,
    core_consistency,
    diagnose,
    diagnostics_sentence,
    diagnostics_summary,
    growth_window,
    signature_growth,
    start_agreement,
    triple_congruences,
)
from crossling.factorization.parafac2 import parafac2, random_covariance_slices, random_parafac2

SOUND = [([10, 12, 15, 9, 11, 14], 13, 4), ([30, 25, 40, 35, 28, 33, 31, 27], 20, 6), ([12] * 7, 12, 5)]


def _quiet_fit(matrices, rank, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parafac2(matrices, rank, **options)


def _cosines(X: np.ndarray) -> np.ndarray:
    unit = X / np.linalg.norm(X, axis=0)
    return unit.T @ unit


def test_triple_congruences_are_the_products_of_the_three_cosines():
    planted = random_parafac2([10, 12, 15, 9], 13, 3, noise=0.1, seed=2)
    fit = parafac2(planted.matrices, 3, n_iter_max=200)
    congruences = triple_congruences(fit)
    for l, u in enumerate(fit.U):  # the U cosines are the same for every slice (Harshman's constraint)
        expected = _cosines(u) * _cosines(fit.V) * _cosines(fit.S)
        np.testing.assert_allclose(congruences, expected, atol=1e-8)
    np.testing.assert_allclose(np.diag(congruences), 1.0)


def _explicit_core(matrices, fit) -> np.ndarray:
    """The least-squares core of Omega_l ~ sum_pqr g_pqr s_lp u_lq v_r^T by one dense lstsq (k^3 unknowns)."""
    k = fit.S.shape[1]
    design = np.concatenate([np.einsum("p,iq,jr->ijpqr", s, u, fit.V).reshape(-1, k**3)
                             for s, u in zip(fit.S, fit.U)])
    target = np.concatenate([m.ravel() for m in matrices])
    return np.linalg.lstsq(design, target, rcond=None)[0].reshape(k, k, k)


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_core_consistency_against_a_dense_least_squares_core(noise):
    planted = random_parafac2([9, 12, 10, 11, 8, 10], 8, 3, noise=noise, seed=4)
    fit = parafac2(planted.matrices, 3, tol=1e-12, n_iter_max=3000)
    core = _explicit_core(planted.matrices, fit)
    identity = np.zeros((3, 3, 3))
    identity[range(3), range(3), range(3)] = 1.0
    expected = 100 * (1 - np.sum((core - identity) ** 2) / 3)
    assert core_consistency(planted.matrices, fit) == pytest.approx(expected, abs=1e-6)
    if noise == 0.0:
        # Data that follow the model exactly: the core is the identity (Bro and Kiers 2003).
        assert expected == pytest.approx(100.0, abs=1e-3)


def test_core_consistency_falls_when_components_interact():
    # A Tucker model with strong off-diagonal core entries is no PARAFAC2 model at its rank.
    rng = np.random.default_rng(5)
    k, L = 3, 8
    core = np.zeros((k, k, k))
    core[range(k), range(k), range(k)] = 1.0
    core[0, 1, 2] = core[1, 2, 0] = core[2, 0, 1] = 0.9
    S, V = rng.uniform(0.2, 1.0, (L, k)), rng.standard_normal((10, k))
    slices = [np.linalg.qr(rng.standard_normal((12, k)))[0] @ np.einsum("p,pqr->qr", s, core) @ V.T for s in S]
    fit = _quiet_fit(slices, k, n_starts=3, seed=0)
    assert core_consistency(slices, fit) < 50.0


def test_core_consistency_needs_no_more_components_than_slices():
    planted = random_parafac2([8, 8, 8], 8, 4, seed=1)
    fit = _quiet_fit(planted.matrices, 4, n_iter_max=20)
    with pytest.raises(ValueError, match="rank .* <= the number of slices"):
        core_consistency(planted.matrices, fit)
    assert np.isnan(diagnose(fit, planted.matrices).core_consistency)
    with pytest.raises(ValueError, match="do not match"):
        core_consistency(planted.matrices[:2], _quiet_fit(planted.matrices, 2, n_iter_max=5))


def test_signature_growth_and_start_agreement_known_values():
    trace = np.arange(1.0, 101.0)
    assert growth_window(100) == 10 and growth_window(12) == 1 and growth_window(1) == 1
    assert signature_growth(trace) == pytest.approx((100 - 90) / 90)
    assert signature_growth(np.array([2.0, 2.5])) == pytest.approx(0.25)
    assert np.isnan(signature_growth(np.array([3.0])))
    signatures = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [2.0, 1.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]])
    # starts 0-2 at the best fit (start 2 within 1% of the SSE), start 3 far worse
    errors = np.array([0.5, 0.5, 0.5 * np.sqrt(1.009), 0.9])
    at_best, rho, spread = start_agreement(signatures, errors, 0)
    assert at_best == 3 and rho == pytest.approx(0.8)  # one swap among 4
    assert spread == pytest.approx(1.0 / 2.5)  # a range of 1 against the mean 2.5
    assert start_agreement(signatures[:1], errors[:1], 0)[0] == 1
    assert np.isnan(start_agreement(signatures[:1], errors[:1], 0)[1])
    assert start_agreement(signatures, np.array([0.0, 1e-9, 0.2, np.inf]), 0)[0] == 2  # exact fits tie


def test_an_unconstrained_fit_of_issue_13s_problem_is_flagged_degenerate():
    # The original study's fit (no constraint, SVD start, 100 iterations) at rank 8 on slices built like its own.
    slices = random_covariance_slices(seed=0)
    fit = _quiet_fit(slices, 8, n_iter_max=100, tol=1e-8)
    diagnostics = diagnose(fit, slices)
    assert diagnostics.degenerate and diagnostics.min_congruence < DEGENERATE_CONGRUENCE
    a, b = diagnostics.congruence_pair
    assert triple_congruences(fit)[a, b] == diagnostics.min_congruence
    assert diagnostics.unstable and diagnostics.signature_growth > 0.01  # still growing at the budget
    assert diagnostics.problems[0].startswith(f"components {a} and {b} diverge")
    assert "orthonormal V" in diagnostics.problems[0]
    row = diagnostics.as_row()
    assert row["congruence_pair"] == f"{a},{b}" and row["problems"] == "; ".join(diagnostics.problems)
    # The same data with the study's default: nothing to flag.
    default = _quiet_fit(slices, 8, orthonormal_v=True, n_starts=3, seed=0)
    assert diagnose(default, slices).problems == ()


def test_a_noisy_planted_model_fitted_without_constraint_is_flagged():
    # 30% noise at rank 4 over 6 slices: the unconstrained fit inflates the signatures by diverging (mean signature
    # 1.0 against the planted 0.63), which the constrained fit does not.
    planted = random_parafac2([10, 12, 15, 9, 11, 14], 13, 4, noise=0.3, seed=1)
    fit = _quiet_fit(planted.matrices, 4, n_starts=3, seed=0)
    assert diagnose(fit, planted.matrices).degenerate
    assert fit.S.mean() > 1.4 * planted.S.mean()


@pytest.mark.parametrize(("rows", "cols", "rank"), SOUND)
def test_sound_fits_are_not_flagged(rows, cols, rank):
    planted = random_parafac2(rows, cols, rank, noise=0.05, seed=1)
    fit = _quiet_fit(planted.matrices, rank, n_starts=3, seed=0)
    diagnostics = diagnose(fit, planted.matrices)
    assert not diagnostics.degenerate and not diagnostics.unstable and diagnostics.problems == ()
    assert diagnostics.core_consistency > 95 and diagnostics.starts_at_best >= 2
    orthonormal = random_parafac2(rows, cols, rank, noise=0.05, orthonormal_v=True, seed=1)
    fit = _quiet_fit(orthonormal.matrices, rank, orthonormal_v=True, n_starts=3, seed=0)
    diagnostics = diagnose(fit, orthonormal.matrices)
    assert diagnostics.problems == () and diagnostics.start_spearman == pytest.approx(1.0)
    assert abs(diagnostics.min_congruence) < 1e-8  # orthonormal V: every V cosine is 0


def test_starts_that_disagree_are_flagged():
    fit = _quiet_fit(random_covariance_slices(6, 16, n_rows=400, seed=1), 4, orthonormal_v=True, n_starts=3, seed=0)
    # Three starts end within 0.01% of each other's error with average signatures 3% apart: local minima.
    diagnostics = diagnose(fit)
    assert diagnostics.starts_at_best == 3 and diagnostics.start_spread > 0.02
    assert diagnostics.starts_disagree and diagnostics.unstable and not diagnostics.growing
    assert diagnostics.problems == (
        f"the 3 starts at the best fit give a language average signatures up to {diagnostics.start_spread:.1%} of the "
        f"level apart (Spearman {diagnostics.start_spearman:.2f} between their language rankings): differences between "
        "languages smaller than that depend on the start; add starts (the best fit is kept) and read smaller "
        "differences as ties",)


def test_summary_and_sentence_of_a_fits_table():
    common = dict(core_consistency=np.nan, starts_at_best=3, start_spearman=1.0, degenerate=False, growing=False,
                  starts_disagree=False, unstable=False, problems=())
    sound = FitDiagnostics(**{**common, "core_consistency": 99.0}, min_congruence=-0.1, congruence_pair=(0, 1),
                           signature_growth=1e-5, start_spread=0.001)
    bad = FitDiagnostics(**{**common, "degenerate": True, "growing": True, "unstable": True,
                            "problems": ("components 1 and 2 diverge",)},
                         min_congruence=-0.9, congruence_pair=(1, 2), signature_growth=0.2, start_spread=0.0)
    spread = FitDiagnostics(**{**common, "starts_disagree": True, "unstable": True, "start_spearman": 0.9},
                            min_congruence=0.0, congruence_pair=(0, 1), signature_growth=0.0, start_spread=0.07)
    fits = pd.DataFrame([{"category": "Case", "layer": layer, **diagnostics.as_row()}
                         for layer, diagnostics in enumerate((sound, bad, spread), start=1)])
    summary = diagnostics_summary(fits)
    assert summary["degenerate"] == summary["growing"] == [["Case", 2]] and summary["starts_disagree"] == [["Case", 3]]
    assert summary["min_congruence"] == -0.9 and summary["max_abs_signature_growth"] == 0.2
    assert summary["min_start_spearman"] == 0.9 and summary["min_core_consistency"] == 99.0
    assert diagnostics_sentence(fits) == (
        "1 of 3 PARAFAC2 fits have diverging components (1) or signatures still changing at the end of the budget (1): "
        "Case layer 2. Their signatures measure the solver as much as the languages, and so do the levels, trends and "
        "trees built on them. The first: components 1 and 2 diverge. In 1 of 3 fits (Case layer 3) the starts "
        "disagree: a language's average signature differs by up to 7.0% of the level between starts that reach the "
        "best fit, lowest Spearman 0.90 between their language rankings, so smaller differences between languages "
        "are not resolved.")
    assert diagnostics_sentence(fits.iloc[:1]) == (
        "All 1 PARAFAC2 fits pass the diagnostics: no diverging components (lowest triple congruence -0.10), "
        "signatures settled (largest change over the last tenth of the iterations 0.00%), starts at the best fit in "
        "agreement (a language's average signatures at most 0.1% of the level apart, lowest Spearman 1.00 between "
        "their language rankings).")
