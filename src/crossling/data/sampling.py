"""Language sampling for pre-training: equal-size downsampling, temperature sampling, low-resource cuts.

Sizes are counted in items (sentences or paragraphs). Selection is seeded and depends only on the seed
and a language's item count, so languages with aligned lists of equal length (a parallel corpus such as
:func:`crossling.data.lohelp.read_lohelp` returns) keep the same items: downsampling a parallel corpus
leaves it parallel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence, TypeVar

import numpy as np

__all__ = ["SampledCorpus", "temperature_probabilities", "allocate", "sample_languages"]

T = TypeVar("T")
Strategy = Literal["equal", "temperature", "none"]


def temperature_probabilities(sizes: Mapping[str, int], *, alpha: float = 0.3) -> dict[str, float]:
    """Language sampling probabilities with temperature: ``p_L = n_L^alpha / sum_K n_K^alpha``.

    ``alpha = 1`` samples in proportion to corpus size, ``alpha = 0`` uniformly; XLM-R uses 0.3
    (Conneau et al. 2020, "Unsupervised Cross-lingual Representation Learning at Scale", sec. 3), which
    upsamples low-resource languages. Languages of size 0 get probability 0.

    Parameters
    ----------
    sizes : mapping of str to int
        Items per language (non-negative, not all zero).
    alpha : float, default 0.3
        Exponent in [0, 1].

    Returns
    -------
    dict of str to float
        Language -> ``p_L``, in the order of ``sizes``; the probabilities are in [0, 1] and sum to 1.

    Raises
    ------
    ValueError
        If ``alpha`` is not in [0, 1], or a size is negative, or all sizes are zero.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    n = np.array([sizes[lang] for lang in sizes], dtype=np.float64)
    if (n < 0).any() or n.sum() == 0:
        raise ValueError(f"sizes must be non-negative and not all zero: {dict(sizes)}")
    weights = np.where(n > 0, n**alpha, 0.0)  # 0**0 would give an empty language weight 1
    return dict(zip(sizes, (weights / weights.sum()).tolist()))


def allocate(total: int, probabilities: Mapping[str, float]) -> dict[str, int]:
    """Split ``total`` items across languages in proportion to ``probabilities`` (largest remainder).

    The counts sum to ``total`` exactly and each differs from ``total * p_L`` by less than one item
    (Hamilton's method); ties go to the earlier language.

    Parameters
    ----------
    total : int
        Items to split (non-negative).
    probabilities : mapping of str to float
        Language -> share in [0, 1]; the shares must sum to 1 (not checked: otherwise the counts do not sum
        to ``total``).

    Returns
    -------
    dict of str to int
        Language -> items, in the order of ``probabilities``: ``floor(total * p_L)`` plus one for the
        languages with the largest remainders.
    """
    langs = list(probabilities)
    quota = total * np.array([probabilities[lang] for lang in langs], dtype=np.float64)
    counts = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - counts), kind="stable")
    counts[order[: total - int(counts.sum())]] += 1
    return dict(zip(langs, counts.tolist()))


def _draw(n_available: int, k: int, seed: int) -> np.ndarray:
    """``k`` indices into ``n_available`` items: without replacement when ``k <= n_available``; otherwise
    every item ``k // n`` times plus a random remainder (the most even repetition). Sorted, so the
    selected items keep their corpus order."""
    rng = np.random.default_rng([seed, n_available])
    perm = rng.permutation(n_available)
    reps, rest = divmod(k, n_available)
    return np.sort(np.concatenate([np.tile(perm, reps), perm[:rest]]))


@dataclass
class SampledCorpus:
    """Items per language after sampling, with what produced them.

    Attributes
    ----------
    items : dict of str to list
        Language -> selected items (original order; repeated items appear repeatedly).
    available : dict of str to int
        Language -> items before sampling.
    selected : dict of str to int
        Language -> items after sampling (``len(items[lang])``).
    probabilities : dict of str to float or None
        Language -> ``p_L`` of :func:`temperature_probabilities` (temperature strategy; over the item counts
        after the low-resource cut), else None.
    strategy : {"equal", "temperature", "none"}
        The sampling strategy used (see :func:`sample_languages`).
    alpha : float or None
        The temperature exponent (temperature strategy only), else None.
    seed : int
        The selection seed.
    low_resource : list of str, default []
        Languages cut to ``low_resource_fraction`` of their items (see :func:`sample_languages` for when).
    low_resource_fraction : float, default 0.1
        Fraction in (0, 1] of its items a low-resource language keeps.
    """

    items: dict[str, list[Any]]
    available: dict[str, int]
    selected: dict[str, int]
    probabilities: dict[str, float] | None
    strategy: str
    alpha: float | None
    seed: int
    low_resource: list[str] = field(default_factory=list)
    low_resource_fraction: float = 0.1

    def record(self) -> dict[str, Any]:
        """Provenance: everything but the items.

        Returns
        -------
        dict of str to object
            Keys ``strategy``, ``alpha``, ``seed``, ``available``, ``selected``, ``probabilities``,
            ``low_resource``, ``low_resource_fraction`` (the attributes of the same names, not copied);
            JSON-serialisable.
        """
        return {
            "strategy": self.strategy, "alpha": self.alpha, "seed": self.seed,
            "available": self.available, "selected": self.selected, "probabilities": self.probabilities,
            "low_resource": self.low_resource, "low_resource_fraction": self.low_resource_fraction,
        }


def sample_languages(
    corpus: Mapping[str, Sequence[T]],
    *,
    strategy: Strategy = "equal",
    size: int | None = None,
    alpha: float = 0.3,
    low_resource: Sequence[str] = (),
    low_resource_fraction: float = 0.1,
    seed: int = 0,
) -> SampledCorpus:
    """Choose how many and which items of each language a pre-training run uses.

    Parameters
    ----------
    corpus : mapping of str to sequence
        Language -> items (texts, sentences).
    strategy : {"equal", "temperature", "none"}, default "equal"
        ``"equal"``: every language keeps ``size`` items (default: the smallest language's count;
        the study's setting, so models differ in multilinguality only). ``"temperature"``: a total of
        ``size`` items (default: the corpus total after the low-resource cut) is split with
        :func:`temperature_probabilities` over the item counts after the cut; a language asked for more items
        than it has repeats them (upsampling). ``"none"``: all items.
    size : int, optional
        Items, at least 1: per language for ``"equal"`` (at most the smallest language's count), in total
        for ``"temperature"``; ignored for ``"none"``.
    alpha : float, default 0.3
        Temperature exponent in [0, 1] (``"temperature"`` only).
    low_resource : sequence of str, default ()
        Languages cut to ``low_resource_fraction`` of their items (rounded, at least one), simulating
        low-resource languages. ``"temperature"`` and ``"none"``: the cut comes first, on the language's
        items, and the strategy samples from what is left (Zhao, Ziser and Cohen 2023, App. D: cut to 10%,
        then sample with alpha = 0.3, so the cut language is upsampled from its remaining items).
        ``"equal"``: the language keeps that fraction of ``size`` (cutting first would make the smallest
        language, hence every language, that small).
    low_resource_fraction : float, default 0.1
        Fraction in (0, 1] of its items a ``low_resource`` language keeps (Zhao, Ziser and Cohen 2023 cut to
        10%).
    seed : int, default 0
        Selection seed; the same seed and item count select the same positions in every language.

    Returns
    -------
    SampledCorpus
        The selected items per language (in corpus order) and the counts and options that produced them.

    Raises
    ------
    ValueError
        If the corpus has no language or a language has no items, a ``low_resource`` language is not in the
        corpus, ``low_resource_fraction`` is not in (0, 1], ``size`` is below 1 or (``"equal"``) above the
        smallest language's count, ``strategy`` is unknown, or (``"temperature"``) ``alpha`` is not in [0, 1].
    """
    available = {lang: len(items) for lang, items in corpus.items()}
    if not available:
        raise ValueError("empty corpus: no languages")
    empty = [lang for lang, n in available.items() if n == 0]
    if empty:
        raise ValueError(f"languages without items: {empty}")
    unknown = [lang for lang in low_resource if lang not in available]
    if unknown:
        raise ValueError(f"low_resource languages not in the corpus: {unknown}")
    if not 0.0 < low_resource_fraction <= 1.0:
        raise ValueError(f"low_resource_fraction must be in (0, 1], got {low_resource_fraction}")
    if size is not None and size < 1:
        raise ValueError(f"size must be positive, got {size}")

    def cut(n: int) -> int:
        return max(1, round(n * low_resource_fraction))

    # The items each language may be sampled from: a low-resource language's are cut first (all but "equal").
    pools = {lang: _draw(n, cut(n), seed) if lang in low_resource and strategy != "equal" else np.arange(n)
             for lang, n in available.items()}
    sizes = {lang: len(pool) for lang, pool in pools.items()}
    probs = None
    if strategy == "equal":
        smallest = min(available.values())
        if size is not None and size > smallest:
            smallest_lang = min(available, key=available.__getitem__)
            raise ValueError(f"size={size} exceeds the smallest language ({smallest_lang}: {smallest} items)")
        counts = {lang: cut(size or smallest) if lang in low_resource else size or smallest for lang in available}
    elif strategy == "temperature":
        probs = temperature_probabilities(sizes, alpha=alpha)
        counts = allocate(size or sum(sizes.values()), probs)
    elif strategy == "none":
        counts = sizes
    else:
        raise ValueError(f"unknown strategy {strategy!r}: expected 'equal', 'temperature' or 'none'")

    items = {}
    for lang, seq in corpus.items():
        idx = pools[lang][_draw(sizes[lang], counts[lang], seed)]
        items[lang] = [seq[i] for i in idx]
    return SampledCorpus(
        items=items, available=available, selected=counts, probabilities=probs, strategy=strategy,
        alpha=alpha if strategy == "temperature" else None, seed=seed, low_resource=list(low_resource),
        low_resource_fraction=low_resource_fraction,
    )
