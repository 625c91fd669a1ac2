"""Language sampling: the temperature formula, exact allocation, equal and low-resource cuts."""

from __future__ import annotations

import numpy as np
import pytest

from crossling.data.sampling import allocate, sample_languages, temperature_probabilities

SIZES = {"en": 100_000, "de": 30_000, "fi": 3_000, "tr": 300}


def _corpus(sizes):
    return {lang: [f"{lang}{i}" for i in range(n)] for lang, n in sizes.items()}


def test_temperature_probabilities_match_formula():
    p = temperature_probabilities(SIZES, alpha=0.3)
    n = np.array(list(SIZES.values()), dtype=float)
    expected = n**0.3 / (n**0.3).sum()
    np.testing.assert_allclose(list(p.values()), expected, rtol=1e-12)
    # Independent check on two languages: p_a / p_b = (n_a / n_b)^alpha.
    assert p["en"] / p["tr"] == pytest.approx((100_000 / 300) ** 0.3)


def test_temperature_limits():
    # alpha = 1: proportional to size; alpha = 0: uniform.
    total = sum(SIZES.values())
    p1 = temperature_probabilities(SIZES, alpha=1.0)
    assert p1 == pytest.approx({k: v / total for k, v in SIZES.items()})
    assert temperature_probabilities(SIZES, alpha=0.0) == pytest.approx(dict.fromkeys(SIZES, 0.25))
    # An empty language gets 0 even at alpha = 0 (0**0 would be 1).
    assert temperature_probabilities({"a": 5, "b": 0}, alpha=0.0) == {"a": 1.0, "b": 0.0}


def test_allocate_is_exact_largest_remainder():
    p = {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    assert allocate(10, p) == {"a": 4, "b": 3, "c": 3}
    p = temperature_probabilities(SIZES)
    counts = allocate(12345, p)
    assert sum(counts.values()) == 12345
    assert all(abs(counts[k] - 12345 * p[k]) < 1 for k in p)


def test_observed_proportions_match_alpha_formula():
    sampled = sample_languages(_corpus(SIZES), strategy="temperature", alpha=0.3, seed=3)
    total = sum(SIZES.values())
    observed = {k: len(v) / total for k, v in sampled.items.items()}
    expected = temperature_probabilities(SIZES, alpha=0.3)
    for lang in SIZES:
        assert observed[lang] == pytest.approx(expected[lang], abs=1 / total)
    assert sampled.probabilities == expected
    # The small language is upsampled (repeats evenly), the large one downsampled (no repeats).
    tr = sampled.items["tr"]
    assert len(tr) > 300 and set(tr) == set(_corpus({"tr": 300})["tr"])
    counts = np.unique(tr, return_counts=True)[1]
    assert counts.max() - counts.min() <= 1
    assert len(set(sampled.items["en"])) == len(sampled.items["en"]) < 100_000


def test_equal_downsampling_and_parallel_selection():
    corpus = _corpus({"a": 50, "b": 80, "c": 50})
    s = sample_languages(corpus, strategy="equal", seed=1)
    assert s.selected == {"a": 50, "b": 50, "c": 50}
    assert s.items["a"] == corpus["a"]  # all of the smallest, in corpus order
    s = sample_languages(corpus, strategy="equal", size=20, seed=1)
    # Languages with the same count keep the same positions: a parallel corpus stays parallel.
    assert [x[1:] for x in s.items["a"]] == [x[1:] for x in s.items["c"]]
    assert s.items["a"] == sorted(s.items["a"], key=lambda x: int(x[1:]))
    assert len(set(s.items["b"])) == 20
    with pytest.raises(ValueError, match="exceeds the smallest language"):
        sample_languages(corpus, strategy="equal", size=60)


def test_low_resource_keeps_ten_percent():
    corpus = _corpus({"a": 1000, "b": 1000, "c": 1000})
    s = sample_languages(corpus, strategy="equal", low_resource=["b"], seed=0)
    assert s.selected == {"a": 1000, "b": 100, "c": 1000}
    assert len(s.items["b"]) == 100 and set(s.items["b"]) <= set(corpus["b"])
    s = sample_languages(corpus, strategy="none", low_resource=["a", "c"], low_resource_fraction=0.25)
    assert s.selected == {"a": 250, "b": 1000, "c": 250}


def test_temperature_with_a_low_resource_language_cuts_first_then_samples():
    # Zhao, Ziser and Cohen (2023), App. D: en cut to 10% of its items, then temperature sampling (alpha = 0.3)
    # over the sizes after the cut: p_en = 100^0.3 / (100^0.3 + 2 * 1000^0.3) = 0.2004, not 0.048 (the share
    # the cut would leave after sampling) and not the 100 items of "equal".
    corpus = _corpus({"en": 1000, "de": 1000, "fr": 1000})
    s = sample_languages(corpus, strategy="temperature", low_resource=["en"], seed=0)
    p_en = 100**0.3 / (100**0.3 + 2 * 1000**0.3)
    assert s.probabilities["en"] == pytest.approx(p_en) and p_en == pytest.approx(0.2004, abs=1e-4)
    assert s.probabilities["de"] == pytest.approx((1 - p_en) / 2)
    total = 100 + 1000 + 1000  # the corpus after the cut
    assert sum(s.selected.values()) == total and s.selected["en"] == round(p_en * total)  # 421: upsampled
    assert s.selected["en"] / total == pytest.approx(0.20, abs=0.005)
    assert len(s.items["en"]) == 421 and len(set(s.items["en"])) == 100  # repeats of the 10% that is left
    assert set(s.items["en"]) <= set(corpus["en"])
    # "none" keeps the same 10% of en that temperature sampling repeats
    assert set(sample_languages(corpus, strategy="none", low_resource=["en"]).items["en"]) == set(s.items["en"])


def test_seeded_and_reproducible():
    corpus = _corpus({"a": 500, "b": 300})
    one = sample_languages(corpus, strategy="equal", size=100, seed=7)
    assert one.items == sample_languages(corpus, strategy="equal", size=100, seed=7).items
    assert one.items != sample_languages(corpus, strategy="equal", size=100, seed=8).items


def test_bad_input():
    with pytest.raises(ValueError, match="without items"):
        sample_languages({"a": [], "b": [1]})
    with pytest.raises(ValueError, match="not in the corpus"):
        sample_languages({"a": [1]}, low_resource=["b"])
    with pytest.raises(ValueError, match="unknown strategy"):
        sample_languages({"a": [1]}, strategy="uniform")
    with pytest.raises(ValueError, match="alpha"):
        temperature_probabilities({"a": 1}, alpha=1.5)
