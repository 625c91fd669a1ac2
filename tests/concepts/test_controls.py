"""The controls: sentence and random baselines, sentence-boundness, shared top sentences, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from crossling.concepts import calign, colap
from crossling.concepts.controls import (
    boundness,
    dominant_sentences,
    random_labels,
    sentence_labels,
    shared_dominant_sentence,
)


def test_sentence_blocks_by_hand():
    # Four distinct sentences, k = 2: ranks 0,1 -> concept 0 and ranks 2,3 -> concept 1 (floor(r * k / m)).
    assert sentence_labels([0, 0, 1, 2, 3, 3], 2).tolist() == [0, 0, 0, 1, 1, 1]
    # Ids need not be consecutive: the rank among the distinct ids counts.
    assert sentence_labels([10, 40, 20, 30], 4).tolist() == [0, 3, 1, 2]
    # A shared universe puts parallel sentences in the same concept whatever tokens each language kept.
    universe = np.arange(6)
    assert sentence_labels([4], 2, universe=universe).tolist() == [4 * 2 // 6]
    assert sentence_labels([5, 0], 3, universe=universe).tolist() == [2, 0]
    # More concepts than sentences: blocks of one sentence, concepts between them stay empty.
    assert sentence_labels([0, 1], 5).tolist() == [0, 2]
    with pytest.raises(ValueError, match="not in the universe"):
        sentence_labels([7], 2, universe=universe)
    with pytest.raises(ValueError, match="k must be"):
        sentence_labels([0], 0)


def test_random_labels_are_seeded_and_in_range():
    a = random_labels(1000, 7, seed=3)
    assert np.array_equal(a, random_labels(1000, 7, seed=3)) and not np.array_equal(a, random_labels(1000, 7, seed=4))
    assert a.min() == 0 and a.max() == 6 and a.dtype == np.int64
    # A sequence seed gives an independent stream per language.
    assert not np.array_equal(random_labels(50, 7, seed=(3, 0)), random_labels(50, 7, seed=(3, 1)))


def test_boundness_by_hand():
    # Concept 0: sentences 5, 5, 7 -> 2/3 from sentence 5. Concept 1: 7 and 8 tie -> 1/2, the lower id 7.
    # Concept 2 is empty.
    share, dominant = boundness([0, 0, 0, 1, 1], [5, 5, 7, 7, 8], 3)
    assert share[:2].tolist() == pytest.approx([2 / 3, 1 / 2]) and np.isnan(share[2])
    assert dominant.tolist() == [5, 7, -1]
    with pytest.raises(ValueError, match="labels must lie"):
        boundness([3], [0], 3)
    with pytest.raises(ValueError, match="2 labels but 1"):
        boundness([0, 1], [0], 3)


def test_shared_dominant_sentence():
    assert shared_dominant_sentence(np.array([1, 2, -1]), np.array([1, 3, -1])).tolist() == [True, False, False]


def parallel_toy(n_sentences=40, words=8):
    """A parallel corpus whose every word occurs in one sentence only; the dictionary maps a word to its translation.

    Returns per language the forms and sentences of every token, and both dictionaries.
    """
    sent = np.repeat(np.arange(n_sentences), words)
    en = np.array([f"e{s}_{w}" for s in range(n_sentences) for w in range(words)], dtype=object)
    de = np.array([f"d{s}_{w}" for s in range(n_sentences) for w in range(words)], dtype=object)
    return en, de, sent, {e: [d] for e, d in zip(en, de)}


def test_the_sentence_baseline_aligns_fully_and_the_random_one_not_at_all():
    """The confound in one picture: grouping tokens by sentence gives CALIGN and COLAP of 100%."""
    en, de, sent, dictionary = parallel_toy()
    k = 10  # four sentences (32 types) per concept
    en_types = [set(en[sentence_labels(sent, k) == c]) for c in range(k)]
    de_types = [set(de[sentence_labels(sent, k) == c]) for c in range(k)]
    assert calign(en_types, de_types, dictionary).calign_percent == 100.0
    joint = np.concatenate([sentence_labels(sent, k), sentence_labels(sent, k)])
    langs = np.array(["en"] * en.size + ["de"] * de.size)
    assert colap(joint, langs).colap_percent == 100.0
    # Random concepts of the same sizes do not align: a concept's 32 words scatter over the others.
    rand_en, rand_de = random_labels(en.size, k, seed=0), random_labels(de.size, k, seed=1)
    r_en = [set(en[rand_en == c]) for c in range(k)]
    r_de = [set(de[rand_de == c]) for c in range(k)]
    assert calign(r_en, r_de, dictionary).calign_percent == 0.0


def test_dominant_sentences_per_language_of_a_joint_clustering():
    """Concept 0: en mostly from sentence 5, de mostly from 7; concept 1 has no de token; concept 2 is empty."""
    labels = np.array([0, 0, 0, 1, 0, 0, 0])
    sentences = np.array([5, 5, 6, 9, 7, 7, 5])
    languages = np.array(["en", "en", "en", "en", "de", "de", "de"])
    got = dominant_sentences(labels, sentences, languages, ["de", "en"], 3)
    assert list(got) == ["de", "en"]
    assert got["en"].tolist() == [5, 9, -1]
    assert got["de"].tolist() == [7, -1, -1]
