"""Controls for CALIGN and COLAP: model-free baseline clusterings and how sentence-bound concepts are.

On a small parallel corpus most word types occur in one sentence only, and the translation dictionary is
estimated from the very sentences that are clustered. A "clustering" that merely puts the tokens of the
same sentences together then aligns across languages (its concepts hold a sentence's words and the
dictionary links them to the parallel sentence's words) and mixes languages when clustered jointly. These
functions measure how far CALIGN and COLAP can be explained that way:

- :func:`sentence_labels`: the *sentence baseline*, no model: the distinct sentences, in order, are cut
  into ``k`` consecutive blocks of (nearly) equal count and every token gets its sentence's block, so
  parallel sentences fall in the same concept in every language;
- :func:`random_labels`: the *random baseline*: every token a uniformly drawn concept (seeded);
- :func:`boundness`: per concept, the share of its tokens that come from its most common sentence (1.0:
  a concept of one sentence's words), and that sentence;
- :func:`dominant_sentences`: in a joint clustering of several languages, each language's most common sentence
  per concept (its tokens only);
- :func:`shared_dominant_sentence`: for pairs of concepts (an aligned pair, or the languages of one
  overlapping concept), whether their most common sentences are the same sentence of the parallel corpus.

All take token-level arrays (one entry per clustered token) and return plain arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crossling._utils.validation import check_count

__all__ = ["boundness", "dominant_sentences", "random_labels", "sentence_labels", "shared_dominant_sentence"]


def sentence_labels(
    sentences: Sequence[int] | np.ndarray, k: int, *, universe: Sequence[int] | np.ndarray | None = None
) -> np.ndarray:
    """Concept of each token under the sentence baseline: consecutive blocks of sentences.

    With the sorted distinct sentence ids u_0 < ... < u_{m-1} of ``universe`` (default: those of
    ``sentences``), a token of sentence u_r gets concept floor(r * k / m). Giving every language the same
    universe (the parallel corpus's sentences) puts the tokens of parallel sentences in the same concept.
    With fewer sentences than ``k``, concepts numbered between blocks stay empty.

    Parameters
    ----------
    sentences : array of int, shape (n,)
        The sentence of each token.
    k : int
        Number of concepts.
    universe : array of int, optional
        The sentence ids the blocks are cut from; must contain every id of ``sentences``.

    Returns
    -------
    ndarray of shape (n,), int64
        Labels in 0 .. k-1.

    Raises
    ------
    ValueError
        For ``k`` below 1, or a sentence outside ``universe``.
    """
    k = check_count("k", k, minimum=1)
    sent = np.asarray(sentences, dtype=np.int64)
    ids = np.unique(sent if universe is None else np.asarray(universe, dtype=np.int64))
    rank = np.searchsorted(ids, sent)
    inside = rank < ids.size
    if not inside.all() or (ids[rank[inside]] != sent[inside]).any():
        raise ValueError("a token's sentence is not in the universe of sentences")
    return (rank * k // max(ids.size, 1)).astype(np.int64)


def random_labels(n: int, k: int, *, seed: int | Sequence[int] = 0) -> np.ndarray:
    """Concept of each of ``n`` tokens under the random baseline: uniform on 0 .. k-1, seeded.

    Parameters
    ----------
    n : int
        Number of tokens.
    k : int
        Number of concepts.
    seed : int or sequence of int, default 0
        Seeds :func:`numpy.random.default_rng` (a sequence, e.g. (seed, language index), gives independent
        streams for each language).

    Returns
    -------
    ndarray of shape (n,), int64

    Raises
    ------
    ValueError
        For ``k`` below 1 or a negative ``n``.
    """
    k = check_count("k", k, minimum=1)
    n = check_count("n", n, minimum=0)
    return np.random.default_rng(seed).integers(0, k, n).astype(np.int64)


def boundness(
    labels: Sequence[int] | np.ndarray, sentences: Sequence[int] | np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """How sentence-bound each concept is: the share of its tokens from its most common sentence.

    For concept c with tokens T_c, b(c) = max_s |{t in T_c : sentence(t) = s}| / |T_c|, in (0, 1]; a
    concept whose tokens all come from one sentence has b = 1. Ties between sentences go to the lowest id.

    Parameters
    ----------
    labels : array of int, shape (n,)
        Concept of each token, in 0 .. k-1.
    sentences : array of int, shape (n,)
        Sentence of each token.
    k : int
        Number of concepts.

    Returns
    -------
    share : ndarray of shape (k,), float64
        b(c); NaN for a concept without tokens.
    dominant : ndarray of shape (k,), int64
        The most common sentence of each concept; -1 for a concept without tokens.

    Raises
    ------
    ValueError
        When the arrays differ in length or a label is outside 0 .. k-1.
    """
    labels = np.asarray(labels, dtype=np.int64)
    sent = np.asarray(sentences, dtype=np.int64)
    if labels.shape != sent.shape:
        raise ValueError(f"got {labels.size} labels but {sent.size} sentences")
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"labels must lie in 0 .. {k - 1}")
    share = np.full(k, np.nan)
    dominant = np.full(k, -1, dtype=np.int64)
    if not labels.size:
        return share, dominant
    pairs, counts = np.unique(np.stack([labels, sent], axis=1), axis=0, return_counts=True)
    # Per concept the largest count, ties to the lowest sentence: sort by (concept, -count, sentence).
    order = np.lexsort((pairs[:, 1], -counts, pairs[:, 0]))
    pairs, counts = pairs[order], counts[order]
    first = np.r_[True, pairs[1:, 0] != pairs[:-1, 0]]
    totals = np.bincount(labels, minlength=k)
    concepts = pairs[first, 0]
    share[concepts] = counts[first] / totals[concepts]
    dominant[concepts] = pairs[first, 1]
    return share, dominant


def dominant_sentences(
    labels: np.ndarray, sentences: np.ndarray, languages: np.ndarray, group: Sequence[str], k: int
) -> dict[str, np.ndarray]:
    """Per language of a joint clustering, the most common sentence of each concept among that language's tokens.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
        Concept of each token of the joint clustering, in 0 .. k-1.
    sentences : ndarray of int, shape (n,)
        Sentence of each token (parallel sentences share an id across languages).
    languages : ndarray of str, shape (n,)
        Language of each token.
    group : sequence of str
        The languages to report, in this order.
    k : int
        Number of concepts.

    Returns
    -------
    dict of str to ndarray of shape (k,), int64
        Language -> the ``dominant`` of :func:`boundness` over its tokens (-1 for a concept without any).

    Raises
    ------
    ValueError
        As :func:`boundness`.
    """
    return {lang: boundness(labels[languages == lang], sentences[languages == lang], k)[1] for lang in group}


def shared_dominant_sentence(dominant_a: np.ndarray, dominant_b: np.ndarray) -> np.ndarray:
    """Whether two concepts' most common sentences are the same sentence, pair by pair.

    Parameters
    ----------
    dominant_a, dominant_b : ndarray of int, same shape
        Most common sentence of each concept of a pair (-1: an empty concept, never shared).

    Returns
    -------
    ndarray of bool, same shape

    Raises
    ------
    ValueError
        When the shapes differ.
    """
    a, b = np.asarray(dominant_a), np.asarray(dominant_b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    return (a == b) & (a >= 0)
