"""COLAP on synthetic mixtures with known language proportions, checked against a plain loop."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from crossling.concepts import colap


def mixture(shares_per_concept, n_tokens=100, seed=0):
    """Tokens whose per-concept language shares are exactly the given fractions (in 'en', 'de', 'fr')."""
    rng = np.random.default_rng(seed)
    labels, langs, forms = [], [], []
    for c, shares in enumerate(shares_per_concept):
        for lang, share in zip(("en", "de", "fr"), shares):
            n = round(share * n_tokens)
            labels += [c] * n
            langs += [lang] * n
            forms += [f"{lang}{c}_{i}" for i in range(n)]  # all distinct: types == tokens
    order = rng.permutation(len(labels))
    return np.array(labels)[order], np.array(langs)[order], np.array(forms)[order]


def colap_loop(labels, langs, forms, *, theta_o, by, min_languages=2):
    concepts = sorted(set(labels))
    overlapping = 0
    for c in concepts:
        if by == "tokens":
            counts = Counter(lang for lang, lab in zip(langs, labels) if lab == c)
        else:
            counts = Counter(lang for lang, _ in {(lang, f) for lang, f, lab in zip(langs, forms, labels) if lab == c})
        total = sum(counts.values())
        overlapping += sum(1 for n in counts.values() if n / total >= theta_o - 1e-12) >= min_languages
    return 100.0 * overlapping / len(concepts)


def test_known_proportions():
    shares = [(1.0, 0, 0), (0.5, 0.5, 0), (0.7, 0.3, 0), (0.71, 0.29, 0), (0.4, 0.3, 0.3), (0.8, 0.1, 0.1)]
    labels, langs, forms = mixture(shares)
    res = colap(labels, langs, forms=forms, theta_o=0.3)
    # Overlapping: 50/50, 70/30 (exactly at the threshold), 40/30/30; not 71/29, not 80/10/10.
    assert res.overlapping.tolist() == [False, True, True, False, True, False]
    assert res.colap_percent == pytest.approx(100 * 3 / 6)
    assert res.n_overlapping == 3 and res.n_concepts == 6
    assert np.allclose(res.proportions, np.array(shares)[:, [res.languages.index(x) for x in ("en", "de", "fr")]])
    # min_languages=3 asks for three languages at 30%: only the 40/30/30 concept.
    assert colap(labels, langs, theta_o=0.3, min_languages=3).n_overlapping == 1
    assert colap(labels, langs, theta_o=0.5).n_overlapping == 1  # only 50/50


def test_types_and_tokens_differ_on_repeated_forms():
    # Concept 0: 70 English tokens of 3 forms, 30 German tokens of 30 forms.
    labels = np.zeros(100, dtype=int)
    langs = np.array(["en"] * 70 + ["de"] * 30)
    forms = np.array([f"e{i % 3}" for i in range(70)] + [f"d{i}" for i in range(30)])
    by_tokens = colap(labels, langs, forms=forms, theta_o=0.3, by="tokens")
    by_types = colap(labels, langs, forms=forms, theta_o=0.3, by="types")
    assert by_tokens.proportions[0].tolist() == [0.7, 0.3]
    assert by_types.proportions[0].tolist() == pytest.approx([3 / 33, 30 / 33])
    assert by_tokens.colap_percent == 100.0 and by_types.colap_percent == 0.0


def test_same_form_in_two_languages_is_a_type_of_each():
    labels = np.zeros(4, dtype=int)
    res = colap(labels, ["en", "de", "en", "de"], forms=["Paris", "Paris", "Paris", "Paris"], by="types", theta_o=0.5)
    assert res.proportions[0].tolist() == [0.5, 0.5] and res.colap_percent == 100.0


@pytest.mark.parametrize("by", ["tokens", "types"])
def test_matches_plain_loop_on_random_clusterings(by):
    rng = np.random.default_rng(3)
    n = 3000
    labels = rng.integers(0, 40, n)
    # Language mix depends on the concept so that shares spread around the threshold.
    p_en = rng.uniform(0.2, 1.0, 40)
    langs = np.where(rng.random(n) < p_en[labels], "en", np.where(rng.random(n) < 0.5, "de", "fr"))
    forms = np.array([f"w{x}" for x in rng.integers(0, 300, n)])
    for theta in (0.1, 0.3, 0.45):
        res = colap(labels, langs, forms=forms, theta_o=theta, by=by)
        assert res.colap_percent == pytest.approx(colap_loop(labels, langs, forms, theta_o=theta, by=by))


def test_empty_concepts_are_not_counted():
    res = colap(np.array([0, 0, 3, 3]), ["en", "de", "en", "en"], k=5)
    assert res.n_concepts == 2 and res.colap_percent == 50.0
    assert np.isnan(res.proportions[[1, 2, 4]]).all()


def test_language_order_sets_columns():
    res = colap([0, 0, 0], ["en", "de", "de"], language_order=["de", "en"])
    assert res.languages == ("de", "en") and res.proportions[0].tolist() == pytest.approx([2 / 3, 1 / 3])
    with pytest.raises(ValueError, match="not in language_order"):
        colap([0, 0], ["en", "fr"], language_order=["en"])


def test_single_language_warns_and_gives_zero():
    with pytest.warns(RuntimeWarning, match="no concept can overlap"):
        assert colap([0, 1], ["en", "en"]).colap_percent == 0.0


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"theta_o": "0.3"}, TypeError),
        ({"theta_o": 30}, ValueError),
        ({"by": "words"}, ValueError),
        ({"by": "types"}, ValueError),  # no forms given
        ({"k": 1}, ValueError),  # labels go up to 1
        ({"min_languages": 0}, ValueError),
    ],
)
def test_bad_options_are_rejected(kwargs, error):
    with pytest.raises(error):
        colap([0, 1], ["en", "de"], **kwargs)


def test_bad_labels_are_rejected():
    with pytest.raises(ValueError, match="non-negative"):
        colap([-1, 0], ["en", "de"])
    with pytest.raises(ValueError, match="got 2 labels but 3"):
        colap([0, 1], ["en", "de", "fr"])
