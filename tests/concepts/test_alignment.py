"""CALIGN: known answers (planted concepts, shuffled dictionary), threshold edges, sparse vs plain loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crossling.concepts import TranslationDictionary, calign


def calign_loop(source, target, translations, *, theta_a, n_best, size_tolerance, size_rule, min_types):
    """The definition read literally: every (C_s, C_t) pair, every type, in plain Python with fractions."""
    from fractions import Fraction

    theta, tau = Fraction(str(theta_a)), Fraction(str(size_tolerance))
    pairs = []
    eligible = [i for i, cs in enumerate(source) if len(set(cs)) >= min_types]
    for i in eligible:
        cs = set(source[i])
        for j, ct in enumerate(target):
            ct = set(ct)
            matched = sum(1 for u in cs if any(v in ct for v in translations.get(u, [])[:n_best]))
            a, b = len(cs), len(ct)
            if size_rule == "symmetric":
                size_ok = abs(a - b) <= tau * max(a, b)
            else:
                size_ok = a >= (1 - tau) * b
            if matched >= theta * a and size_ok:
                pairs.append((i, j, matched))
    aligned = {i for i, _, _ in pairs}
    value = 100.0 * len(aligned) / len(eligible) if eligible else float("nan")
    return value, pairs


def planted(n_concepts=40, size=10, seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(6, size + 6, n_concepts)
    source = [{f"s{c}_{w}" for w in range(sizes[c])} for c in range(n_concepts)]
    perm = rng.permutation(n_concepts)  # target concept ids are a permutation of the source ones
    target = [set() for _ in range(n_concepts)]
    for c in range(n_concepts):
        target[perm[c]] = {f"t{c}_{w}" for w in range(sizes[c])}
    dictionary = {f"s{c}_{w}": [f"t{c}_{w}"] for c in range(n_concepts) for w in range(sizes[c])}
    return source, target, dictionary, perm


def test_planted_concepts_with_exact_dictionary_align_fully():
    source, target, dictionary, perm = planted()
    res = calign(source, target, dictionary)
    assert res.calign_percent == 100.0
    assert res.n_aligned == res.n_eligible == 40
    assert np.array_equal(res.best_target, perm)
    # Each source concept aligns exactly to its image, with every type matched.
    assert np.array_equal(res.pairs, np.stack([np.arange(40), perm], axis=1)[np.argsort(np.arange(40))])
    assert np.array_equal(res.matched, np.array([len(source[c]) for c in range(40)]))


def test_shuffled_dictionary_gives_about_zero():
    source, target, dictionary, _ = planted(n_concepts=60)
    words = list(dictionary)
    rng = np.random.default_rng(1)
    shuffled = dict(zip(words, [dictionary[w] for w in rng.permutation(words)]))
    assert calign(source, target, shuffled).calign_percent == 0.0
    # Partially shuffled: exactly the concepts left untouched stay aligned.
    keep = set(range(0, 60, 3))
    partial = {w: (dictionary[w] if int(w[1:].split("_")[0]) in keep else shuffled[w]) for w in words}
    assert calign(source, target, partial).calign_percent == pytest.approx(100.0 * len(keep) / 60)


def test_both_directions_of_a_bijection_are_full():
    source, target, dictionary, _ = planted(seed=3)
    reverse = {t[0]: [s] for s, t in dictionary.items()}
    assert calign(target, source, reverse).calign_percent == 100.0


@pytest.mark.parametrize("matched, expected", [(8, True), (7, False)])
def test_theta_a_edge_exactly_eighty_percent_counts(matched, expected):
    source = [{f"s{i}" for i in range(10)}]
    target = [{f"t{i}" for i in range(10)}]
    dictionary = {f"s{i}": [f"t{i}"] for i in range(matched)}  # 8 of 10 = exactly 0.8
    res = calign(source, target, dictionary)
    assert res.calign_percent == (100.0 if expected else 0.0)


def test_theta_edge_survives_binary_floating_point():
    # 0.56 * 25 == 14.000000000000002 in binary floating point: 14 of 25 types must still reach 0.56.
    assert 0.56 * 25 > 14
    source = [{f"s{i}" for i in range(25)}]
    target = [{f"t{i}" for i in range(25)}]
    assert calign(source, target, {f"s{i}": [f"t{i}"] for i in range(14)}, theta_a=0.56).calign_percent == 100.0
    assert calign(source, target, {f"s{i}": [f"t{i}"] for i in range(13)}, theta_a=0.56).calign_percent == 0.0


@pytest.mark.parametrize(
    "size_s, size_t, rule, expected",
    [
        (10, 6, "symmetric", True),  # |10-6| = 4 = 0.4 * 10: exactly 40%, allowed
        (10, 5, "symmetric", False),  # 5 > 4
        (6, 10, "symmetric", True),  # symmetric: target larger by exactly 40% of the larger
        (6, 11, "symmetric", False),
        (10, 16, "one-sided", True),  # one-sided: |C_s| >= 0.6 |C_t|, 10 >= 9.6
        (10, 17, "one-sided", False),  # 10 < 10.2
        (20, 8, "one-sided", True),  # one-sided rule does not bound a larger source
        (20, 8, "symmetric", False),
    ],
)
def test_size_rule_edges(size_s, size_t, rule, expected):
    source = [{f"s{i}" for i in range(size_s)}]
    target = [{f"t{i}" for i in range(size_t)}]
    # Every source type translates into the target concept (several onto one word when it is smaller).
    dictionary = {f"s{i}": [f"t{i % size_t}"] for i in range(size_s)}
    res = calign(source, target, dictionary, size_rule=rule)
    assert res.calign_percent == (100.0 if expected else 0.0)


def test_size_tolerance_edge_survives_binary_floating_point():
    # 0.55 * 100 == 55.00000000000001: with tau = 0.55, sizes 100 and 45 differ by exactly 55%.
    assert 0.55 * 100 > 55
    source = [{f"s{i}" for i in range(100)}]
    for size_t, expected in ((45, 100.0), (44, 0.0)):
        target = [{f"t{i}" for i in range(size_t)}]
        dictionary = {f"s{i}": [f"t{i % size_t}"] for i in range(100)}
        assert calign(source, target, dictionary, size_tolerance=0.55).calign_percent == expected


@pytest.mark.parametrize("n_types, eligible", [(5, False), (6, True)])
def test_concepts_need_more_than_five_types(n_types, eligible):
    source = [{f"s{i}" for i in range(n_types)}, {f"x{i}" for i in range(8)}]
    target = [{f"t{i}" for i in range(n_types)}, {f"y{i}" for i in range(8)}]
    dictionary = {f"s{i}": [f"t{i}"] for i in range(n_types)}
    res = calign(source, target, dictionary)
    assert res.n_eligible == (2 if eligible else 1)
    assert res.calign_percent == (50.0 if eligible else 0.0)


def test_n_best_limits_the_translations_used():
    source = [{f"s{i}" for i in range(6)}]
    target = [{f"t{i}" for i in range(6)}]
    dictionary = {f"s{i}": [f"junk{j}" for j in range(3)] + [f"t{i}"] for i in range(6)}  # right one 4th
    assert calign(source, target, dictionary, n_best=4).calign_percent == 100.0
    assert calign(source, target, dictionary, n_best=3).calign_percent == 0.0


@pytest.mark.parametrize("rule", ["symmetric", "one-sided"])
@pytest.mark.parametrize("theta, tau", [(0.8, 0.4), (0.5, 0.2), (0.3, 0.6)])
def test_sparse_products_match_plain_loop(rule, theta, tau):
    rng = np.random.default_rng(7)
    vocab_s, vocab_t = [f"s{i}" for i in range(120)], [f"t{i}" for i in range(100)]
    # Random concepts that overlap in types, and a noisy many-to-many dictionary with a planted core.
    source = [set(rng.choice(vocab_s, rng.integers(3, 14), replace=False)) for _ in range(50)]
    target = [set(rng.choice(vocab_t, rng.integers(3, 14), replace=False)) for _ in range(45)]
    dictionary = {
        s: list(rng.choice(vocab_t, rng.integers(1, 12), replace=False)) for s in vocab_s if rng.random() < 0.9
    }
    kwargs = dict(theta_a=theta, n_best=10, size_tolerance=tau, size_rule=rule, min_types=6)
    res = calign(source, target, dictionary, **kwargs)
    value, pairs = calign_loop(source, target, dictionary, **kwargs)
    assert res.calign_percent == pytest.approx(value)
    assert [tuple(p) + (m,) for p, m in zip(res.pairs.tolist(), res.matched.tolist())] == sorted(pairs)
    assert len(pairs) > 0  # the comparison is not vacuous
    # best_target is an aligned target with the most matched types.
    for i in range(len(source)):
        mine = [(j, m) for (a, j, m) in pairs if a == i]
        if mine:
            assert (i, res.best_target[i]) in {(i, j) for j, _ in mine}
            assert dict(mine)[res.best_target[i]] == max(m for _, m in mine)
        else:
            assert res.best_target[i] == -1


def test_translation_dictionary_object_is_accepted_and_checked():
    table = pd.DataFrame(
        {"source": [f"s{i}" for i in range(6)], "target": [f"t{i}" for i in range(6)], "prob": 1.0, "count": 3}
    )
    d = TranslationDictionary("en", "de", table, n_best=10)
    source, target = [{f"s{i}" for i in range(6)}], [{f"t{i}" for i in range(6)}]
    assert calign(source, target, d, source_lang="en", target_lang="de").calign_percent == 100.0
    with pytest.raises(ValueError, match="source language is 'fr'"):
        calign(source, target, d, source_lang="fr")
    with pytest.raises(ValueError, match="kept only 10"):
        calign(source, target, d, n_best=20)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"theta_a": "0.8"}, TypeError),  # the released script passed thresholds as strings
        ({"theta_a": 80}, ValueError),  # a percentage instead of a fraction
        ({"theta_a": 0.0}, ValueError),
        ({"theta_a": float("nan")}, ValueError),
        ({"size_tolerance": -0.1}, ValueError),
        ({"size_tolerance": True}, TypeError),
        ({"size_rule": "ratio"}, ValueError),
        ({"min_types": 0}, ValueError),
        ({"n_best": 2.5}, ValueError),
    ],
)
def test_bad_options_are_rejected(kwargs, error):
    with pytest.raises(error):
        calign([{"a"}], [{"b"}], {"a": ["b"]}, **kwargs)


def test_bad_inputs_are_rejected():
    with pytest.raises(TypeError, match="string"):
        calign(["abc"], [{"b"}], {})
    with pytest.raises(ValueError, match="non-empty"):
        calign([], [{"b"}], {})
    with pytest.raises(TypeError, match="string"):
        calign([{"a"}], [{"b"}], {"a": "b"})


def test_no_eligible_concept_gives_nan_with_warning():
    with pytest.warns(RuntimeWarning, match="no source concept"):
        res = calign([{"a", "b"}], [{"x"}], {"a": ["x"]})
    assert np.isnan(res.calign_percent) and res.n_eligible == 0


# The paper's readings (issue 15): each rule written out, on a hand-built case.


@pytest.mark.parametrize("eligibility, expected", [("source", 100.0), ("both", 0.0)])
def test_more_than_five_types_applies_to_the_source_or_to_both(eligibility, expected):
    """Rule: "source" tests |C_s| >= 6 only; "both" also needs |C_t| >= 6. C_s has 6 types, C_t 5."""
    source = [{f"s{i}" for i in range(6)}]
    target = [{f"t{i}" for i in range(5)}]
    dictionary = {f"s{i}": [f"t{i % 5}"] for i in range(6)}  # every source type translates into C_t
    # Sizes 6 and 5 differ by 1 <= 0.4 * 6: only the eligibility reading decides.
    assert calign(source, target, dictionary, eligibility=eligibility).calign_percent == expected


@pytest.mark.parametrize(
    "size_s, size_t, rule, expected",
    [
        (10, 8, "smaller", True),  # |10-8| = 2 <= 0.4 * min = 3.2
        (10, 7, "smaller", False),  # 3 > 0.4 * 7 = 2.8
        (10, 6, "smaller", False),  # 4 > 0.4 * 6 = 2.4, while "symmetric" allows it (4 <= 0.4 * 10)
        (10, 6, "symmetric", True),
        (10, 25, "script", True),  # released script: a / b >= 0.4, 10 / 25 = 0.4 exactly (inclusive here)
        (10, 26, "script", False),
        (30, 10, "script", True),  # a larger source is never bounded
    ],
)
def test_size_rule_readings(size_s, size_t, rule, expected):
    source = [{f"s{i}" for i in range(size_s)}]
    target = [{f"t{i}" for i in range(size_t)}]
    dictionary = {f"s{i}": [f"t{i % size_t}"] for i in range(size_s)}
    assert calign(source, target, dictionary, size_rule=rule).calign_percent == (100.0 if expected else 0.0)


def test_calign_over_eligible_concepts_and_over_k():
    """One eligible concept (aligned) and three too small: 1 / 1 over eligible concepts, 1 / 4 over K."""
    source = [{f"s{i}" for i in range(6)}, {"a"}, {"b", "c"}, set()]
    target = [{f"t{i}" for i in range(6)}, {"x"}, {"y"}, {"z"}]
    res = calign(source, target, {f"s{i}": [f"t{i}"] for i in range(6)})
    assert (res.calign_percent, res.calign_k_percent) == (100.0, 25.0)
    assert (res.n_aligned, res.n_eligible, res.n_source_concepts) == (1, 1, 4)
    assert res.eligible.tolist() == [True, False, False, False]


def test_unordered_translations_are_refused():
    """With sets, "the N best" is whatever order the set iterates in: N = 1 could keep the wrong word."""
    source, target = [{f"s{i}" for i in range(6)}], [{f"t{i}" for i in range(6)}]
    with pytest.raises(TypeError, match="no order"):
        calign(source, target, {f"s{i}": {f"t{i}", f"junk{i}"} for i in range(6)}, n_best=1)
    with pytest.raises(TypeError, match="no order"):
        calign(source, target, {f"s{i}": frozenset({f"t{i}"}) for i in range(6)})
    # The same translations as lists, best first, are used as given.
    assert calign(source, target, {f"s{i}": [f"t{i}", f"junk{i}"] for i in range(6)}, n_best=1).calign_percent == 100
