"""Latent concepts: clusters of contextual token representations (Dalvi et al. 2022; Mousi et al. 2024).

A *concept* is a cluster of token vectors from one layer; its *types* are the distinct word forms of
its tokens. Before clustering, rare types are dropped and frequent ones are capped (:func:`select_tokens`:
a seeded random sample of their occurrences, or their first occurrences), so a few function words do not
fill the space.

Backends of :func:`cluster_concepts`:

- ``"sklearn"``: :class:`sklearn.cluster.KMeans` (Lloyd, k-means++ initialisation, ``n_init=1``);
- ``"faiss"``: greedy k-means++ seeding (:func:`kmeans_plusplus`, the same algorithm as scikit-learn's
  but computed with float32 GEMMs) on a seeded sample of at most 32 tokens per centre, then faiss'
  own Lloyd loop on its exact L2 search (an emptied cluster is re-seeded by faiss' split of a large
  one), which stops when the objective decreases by less than ``tol`` relative to the previous
  iteration (faiss' ``early_stop_threshold``);
- ``"ward"``: agglomerative clustering with Ward linkage, as in ConceptX (O(n^2) memory, small sets only);
- ``"auto"`` (default): faiss when it is installed, else scikit-learn.

Whatever the backend, ``inertia`` is recomputed here in float64, sum_i ||x_i - c_{label_i}||^2, with
the centroids being the cluster means (K-means) or the cluster means of the Ward partition. A fit with
inertia 0 (every token on its centre: fewer distinct points than concepts, or planted duplicates) is
converged whatever the library's stopping rule says (faiss' relative decrease is then 0/0). A concept left
without tokens (fewer distinct points than ``k``) is counted in ``Concepts.n_empty`` and warned about.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from crossling._utils.validation import check_choice, check_count
from crossling.exceptions import ConvergenceWarning, DegenerateInputWarning

__all__ = ["BACKENDS", "SAMPLINGS", "Concepts", "cluster_concepts", "inertia", "kmeans_plusplus", "select_tokens"]

BACKENDS = ("auto", "sklearn", "faiss", "ward")
SAMPLINGS = ("random", "first")
# Ward keeps a condensed distance matrix, n (n - 1) / 2 float64: 30,000 points already take 3.6 GB.
_WARD_MAX_POINTS = 30_000
_CHUNK = 8192
_INIT_SAMPLE = 32  # tokens per centre drawn for the faiss backend's k-means++ seeding


@dataclass(frozen=True)
class Concepts:
    """A clustering of tokens into latent concepts.

    Attributes
    ----------
    labels : ndarray of shape (n,), int64
        Concept of each token, in 0 .. k-1.
    forms : ndarray of shape (n,), object
        Word form of each token.
    languages : ndarray of shape (n,), object
        Language of each token.
    centroids : ndarray of shape (k, d), float32
        Concept centres (a concept without tokens keeps the centre the algorithm left it).
    inertia : float
        Sum of squared distances of the tokens to their concept's centre (float64).
    backend : str
        The backend that ran ("sklearn", "faiss" or "ward"; never "auto").
    seed : int
    n_iter : int or None
        Lloyd iterations run (None for Ward).
    converged : bool or None
        Whether the stopping rule was met within ``max_iter`` iterations (None for Ward; scikit-learn
        does not say, so a run that used all ``max_iter`` iterations is reported as not converged).
    params : dict
        k, max_iter, tol, library versions.
    sentences : ndarray of shape (n,), int64, optional
        Sentence of each token (its index in the parallel corpus), for the sentence controls
        (:mod:`crossling.concepts.controls`); None when not known.
    """

    labels: np.ndarray
    forms: np.ndarray
    languages: np.ndarray
    centroids: np.ndarray
    inertia: float
    backend: str
    seed: int
    n_iter: int | None
    converged: bool | None
    params: dict[str, Any] = field(default_factory=dict)
    sentences: np.ndarray | None = None

    @property
    def k(self) -> int:
        """The number of concepts (rows of ``centroids``)."""
        return int(self.centroids.shape[0])

    @property
    def n_empty(self) -> int:
        """Concepts without a token."""
        return self.k - int(np.unique(self.labels).size)

    @property
    def language_order(self) -> tuple[str, ...]:
        """Languages in order of first appearance among the tokens."""
        return tuple(pd.unique(self.languages))

    def types(self, language: str | None = None) -> list[frozenset[str]]:
        """Per concept (index = concept id), its distinct word forms, of one language or of all.

        Parameters
        ----------
        language : str, optional
            Only the forms of this language's tokens (a joint clustering mixes languages); default all.

        Returns
        -------
        list of frozenset of str
            Length k; a concept without tokens (of that language) has an empty set.

        Raises
        ------
        ValueError
            When no token is of ``language``.
        """
        mask = np.ones(len(self.labels), dtype=bool) if language is None else self.languages == language
        if language is not None and not mask.any():
            raise ValueError(f"no token of language {language!r}; languages are {self.language_order}")
        out: list[set[str]] = [set() for _ in range(self.k)]
        for label, form in zip(self.labels[mask], self.forms[mask]):
            out[label].add(form)
        return [frozenset(s) for s in out]

    def counts(self) -> pd.DataFrame:
        """Tidy token counts of every concept.

        Returns
        -------
        pandas.DataFrame
            Columns ``concept, language, word, count``; ordered by concept and language, most frequent word
            first (ties by the word).
        """
        df = pd.DataFrame({"concept": self.labels, "language": self.languages, "word": self.forms})
        counts = df.value_counts().rename("count").reset_index()
        order = counts.sort_values(["concept", "language", "count", "word"], ascending=[True, True, False, True])
        return order.reset_index(drop=True)


def select_tokens(
    forms: Sequence[str] | np.ndarray,
    *,
    min_count: int = 1,
    max_per_type: int | None = 15,
    seed: int = 0,
    sampling: str = "random",
) -> np.ndarray:
    """Indices of the tokens kept for clustering.

    Types seen fewer than ``min_count`` times are dropped; of a type seen more than ``max_per_type``
    times, ``max_per_type`` occurrences are kept: drawn uniformly at random without replacement (seeded,
    ``sampling="random"``, so the kept occurrences do not all come from the start of the corpus) or its
    first ones in corpus order (``sampling="first"``). The defaults follow the released scripts of Mousi
    et al. (2024): no minimum, at most 15 occurrences per type (the paper's text says 10).

    Parameters
    ----------
    forms : sequence of str, length n
    min_count : int, default 1
    max_per_type : int or None, default 15
        None keeps every occurrence.
    seed : int, default 0
        Seeds the random sample (unused with ``sampling="first"``).
    sampling : {"random", "first"}, default "random"
        Which occurrences of a capped type are kept.

    Returns
    -------
    ndarray of shape (m,), int64
        Sorted indices into ``forms``.

    Raises
    ------
    ValueError
        For ``min_count`` or ``max_per_type`` below 1, or an unknown ``sampling``.
    """
    min_count = check_count("min_count", min_count, minimum=1)
    if max_per_type is not None:
        max_per_type = check_count("max_per_type", max_per_type, minimum=1)
    sampling = check_choice("sampling", sampling, SAMPLINGS)
    codes, _ = pd.factorize(np.asarray(forms, dtype=object))
    counts = np.bincount(codes) if codes.size else np.zeros(0, dtype=np.int64)
    keep = counts[codes] >= min_count
    if max_per_type is not None:
        # Occurrences of a type, in random order or in corpus order.
        within = np.random.default_rng(seed).random(codes.size) if sampling == "random" else np.arange(codes.size)
        order = np.lexsort((within, codes))
        sorted_codes = codes[order]
        starts = np.searchsorted(sorted_codes, sorted_codes, side="left")
        rank = np.empty(codes.size, dtype=np.int64)
        rank[order] = np.arange(codes.size) - starts
        keep &= rank < max_per_type
    return np.flatnonzero(keep).astype(np.int64)


def cluster_concepts(
    vectors: np.ndarray,
    forms: Sequence[str] | np.ndarray,
    *,
    languages: str | Sequence[str] | np.ndarray,
    k: int = 600,
    backend: str = "auto",
    seed: int = 0,
    max_iter: int = 100,
    tol: float = 1e-4,
    sentences: Sequence[int] | np.ndarray | None = None,
) -> Concepts:
    """Cluster token vectors into ``k`` latent concepts.

    Parameters
    ----------
    vectors : ndarray of shape (n, d)
        One layer's token representations (cast to float32).
    forms : sequence of str, length n
        The word form of each token.
    languages : str or sequence of str
        One language for all tokens, or one per token (mixed clustering for COLAP).
    k : int, default 600
        Number of concepts (the paper's K).
    backend : {"auto", "sklearn", "faiss", "ward"}, default "auto"
        See the module docstring.
    seed : int, default 0
        Seeds the initial centroids.
    max_iter : int, default 100
        Lloyd iterations at most (K-means backends).
    tol : float, default 1e-4
        Stopping tolerance; each K-means backend applies its library's own rule. scikit-learn: stop when
        sum_k ||c_k^new - c_k^old||^2 <= tol * mean_j Var(x_j) (or the labels no longer change). faiss:
        stop when (J_{i-1} - J_i) / J_{i-1} < tol, J_i being the sum of squared distances of iteration
        i's assignment. At 1e-4 on ``benchmarks/concepts.py`` (100,000 x 384, K = 600) faiss stopped
        after 9 iterations 0.8% above the inertia scikit-learn reached in 44.
    sentences : sequence of int, length n, optional
        The sentence of each token, kept in the result for the sentence controls.

    Returns
    -------
    Concepts

    Raises
    ------
    ValueError
        For vectors that are not 2-D or not finite, forms, languages or sentences of another length, fewer
        tokens than ``k``, an unknown backend, ``k`` or ``max_iter`` below 1, a negative ``tol``, or too
        many tokens for Ward.
    ImportError
        When ``backend="faiss"`` and faiss is not installed.

    Warns
    -----
    ConvergenceWarning
        When K-means stopped at ``max_iter`` before meeting ``tol`` (an exact fit, inertia 0, is converged).
    DegenerateInputWarning
        When concepts are left without tokens (fewer distinct points than ``k``); their number is
        ``Concepts.n_empty``.
    """
    X = np.ascontiguousarray(vectors, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"vectors must be a 2-D array (n_tokens, d), got shape {X.shape}")
    n = X.shape[0]
    forms_arr = np.asarray(forms, dtype=object)
    if forms_arr.shape != (n,):
        raise ValueError(f"got {n} vectors but {forms_arr.size} forms")
    langs = np.full(n, languages, dtype=object) if isinstance(languages, str) else np.asarray(languages, dtype=object)
    if langs.shape != (n,):
        raise ValueError(f"got {n} vectors but {langs.size} languages")
    sent = None if sentences is None else np.asarray(sentences, dtype=np.int64)
    if sent is not None and sent.shape != (n,):
        raise ValueError(f"got {n} vectors but {sent.size} sentence indices")
    k = check_count("k", k, minimum=1)
    max_iter = check_count("max_iter", max_iter, minimum=1)
    backend = check_choice("backend", backend, BACKENDS)
    if not (isinstance(tol, (int, float)) and not isinstance(tol, bool) and tol >= 0):
        raise ValueError(f"tol must be a non-negative number, got {tol!r}")
    if n < k:
        raise ValueError(f"cannot form k={k} concepts from {n} tokens (need at least k tokens)")
    if not np.isfinite(X).all():
        raise ValueError("vectors contain NaN or infinite values")
    if backend == "auto":
        backend = "faiss" if importlib.util.find_spec("faiss") is not None else "sklearn"

    versions = {"numpy": np.__version__}
    if backend == "faiss":
        labels, centroids, n_iter, converged = _faiss_kmeans(X, k, seed=seed, max_iter=max_iter, tol=tol)
        versions["faiss"] = _version("faiss-cpu", "faiss")
    elif backend == "sklearn":
        labels, centroids, n_iter, converged = _sklearn_kmeans(X, k, seed=seed, max_iter=max_iter, tol=tol)
        versions["scikit-learn"] = _version("scikit-learn")
    else:
        labels, centroids = _ward(X, k)
        n_iter, converged = None, None
        versions["scikit-learn"] = _version("scikit-learn")
    fit = inertia(X, labels, centroids)
    if converged is False and fit == 0.0:
        converged = True  # every token sits on its centre: no step can improve (faiss' rule is then 0/0)
    if converged is False:
        warnings.warn(
            f"{backend} K-means did not converge in max_iter={max_iter} iterations (tol={tol}); "
            "the concepts are those of the last iteration",
            ConvergenceWarning,
            stacklevel=2,
        )
    n_empty = k - int(np.unique(labels).size)
    if n_empty:
        distinct = int(np.unique(X, axis=0).shape[0])
        warnings.warn(
            f"{backend} clustering left {n_empty} of k={k} concepts without tokens ({n} tokens, {distinct} distinct "
            "vectors); they count as empty concepts",
            DegenerateInputWarning,
            stacklevel=2,
        )
    params = {"k": k, "max_iter": max_iter, "tol": float(tol), "n_tokens": n, "dim": X.shape[1], "n_empty": n_empty,
              "versions": versions}
    return Concepts(
        labels=labels.astype(np.int64),
        forms=forms_arr,
        languages=langs,
        centroids=centroids.astype(np.float32),
        inertia=fit,
        backend=backend,
        seed=int(seed),
        n_iter=n_iter,
        converged=converged,
        params=params,
        sentences=sent,
    )


def inertia(X: np.ndarray, labels: np.ndarray, centroids: np.ndarray) -> float:
    """sum_i ||x_i - c_{labels_i}||^2 accumulated in float64 (chunked: no n x d float64 copy).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        The tokens.
    labels : ndarray of shape (n,), int
        Each token's concept.
    centroids : ndarray of shape (k, d)
        The concept centres.

    Returns
    -------
    float
    """
    total = 0.0
    for start in range(0, X.shape[0], _CHUNK):
        diff = X[start : start + _CHUNK].astype(np.float64) - centroids[labels[start : start + _CHUNK]]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total


def _version(dist: str, module: str | None = None) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return getattr(__import__(module or dist), "__version__", "unknown")


def _sklearn_kmeans(X: np.ndarray, k: int, *, seed: int, max_iter: int, tol: float):
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning

    km = KMeans(n_clusters=k, n_init=1, init="k-means++", max_iter=max_iter, tol=tol, random_state=seed)
    with warnings.catch_warnings():
        # "fewer distinct clusters than n_clusters": counted and warned about by the caller, as for every backend
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        km.fit(X)
    # scikit-learn stops before max_iter only when it converged (labels stable or centre shift <= tol).
    converged = bool(km.n_iter_ < max_iter)
    return km.labels_, km.cluster_centers_, int(km.n_iter_), converged


def _faiss_kmeans(X: np.ndarray, k: int, *, seed: int, max_iter: int, tol: float):
    try:
        import faiss
    except ImportError as err:
        raise ImportError("backend='faiss' needs faiss: `pip install faiss-cpu` (or use backend='sklearn')") from err
    n, d = X.shape
    params = faiss.ClusteringParameters()
    params.niter = max_iter
    params.nredo = 1
    params.seed = int(seed)
    params.verbose = False
    # faiss stops after iteration i when (obj_{i-1} - obj_i) / obj_{i-1} < early_stop_threshold.
    params.early_stop_threshold = float(tol)
    params.check_input_data_for_NaNs = False  # the caller has checked
    # Use every point (faiss would otherwise subsample above 256 points per centroid) and do not warn
    # about "too few points per centroid": that choice belongs to the caller.
    params.max_points_per_centroid = n // k + 1
    params.min_points_per_centroid = 1
    clustering = faiss.Clustering(d, k, params)
    # Greedy k-means++ start (faiss' random start, its plain k-means++ and AFK-MC² ended 20-40% above it
    # in inertia on overlapping blobs, tests/concepts). Greedy seeding reads the data once per centre,
    # which on 100,000 tokens costs more than the Lloyd steps, so it runs on a seeded sample (with 20
    # tokens per centre the converged inertia was 1.0% above that of full seeding on a 100,000 x 384
    # Gaussian mixture; 32 leaves a margin).
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=_INIT_SAMPLE * k, replace=False)) if n > _INIT_SAMPLE * k else slice(None)
    start = kmeans_plusplus(X[sample], k, seed=seed)
    faiss.copy_array_to_vector(start.ravel(), clustering.centroids)
    index = faiss.IndexFlatL2(d)
    clustering.train(X, index)
    stats = clustering.iteration_stats
    objective = np.array([stats.at(i).obj for i in range(stats.size())], dtype=np.float64)
    n_iter = int(objective.size)
    # Converged: faiss stopped early, or the last step's relative decrease is below tol anyway.
    converged = n_iter < max_iter or (n_iter > 1 and (objective[-2] - objective[-1]) < tol * objective[-2])
    centroids = faiss.vector_float_to_array(clustering.centroids).reshape(k, d).copy()
    # The index holds the final centroids: assign every token to its nearest one (as scikit-learn does
    # after its last step), so labels and centroids agree.
    labels = np.empty(n, dtype=np.int64)
    for row in range(0, n, _CHUNK * 4):
        _, idx = index.search(X[row : row + _CHUNK * 4], 1)
        labels[row : row + _CHUNK * 4] = idx[:, 0]
    return labels, centroids, n_iter, bool(converged)


def kmeans_plusplus(X: np.ndarray, k: int, *, seed: int = 0) -> np.ndarray:
    """Greedy k-means++ seeding (Arthur and Vassilvitskii 2007), the variant scikit-learn uses.

    The first centre is a uniformly drawn token; each next one is the best, by the resulting potential
    sum_i min_c ||x_i - c||^2, of ``2 + floor(ln k)`` candidates drawn with probability proportional
    to the squared distance to the nearest centre so far. Distances are computed in float32 as
    ||x||^2 - 2 x.c + ||c||^2 (one GEMM per step), which is what makes it fast; potentials are float64.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32
    k : int
    seed : int, default 0

    Returns
    -------
    ndarray of shape (k, d), float32
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    n = X.shape[0]
    rng = np.random.default_rng(seed)
    n_trials = 2 + int(np.log(k))
    sq = np.einsum("ij,ij->i", X, X)
    centres = np.empty((k, X.shape[1]), dtype=np.float32)
    first = int(rng.integers(n))
    centres[0] = X[first]
    closest = _sq_distances(X, sq, X[[first]])[:, 0]
    for c in range(1, k):
        cumulative = np.cumsum(closest, dtype=np.float64)
        candidates = np.searchsorted(cumulative, rng.random(n_trials) * cumulative[-1], side="right")
        candidates = np.minimum(candidates, n - 1)
        dist = _sq_distances(X, sq, X[candidates])
        np.minimum(dist, closest[:, None], out=dist)
        best = int(np.argmin(dist.sum(axis=0, dtype=np.float64)))
        centres[c] = X[candidates[best]]
        closest = np.ascontiguousarray(dist[:, best])
    return centres


def _sq_distances(X: np.ndarray, sq: np.ndarray, C: np.ndarray) -> np.ndarray:
    """(n, m) squared distances between the rows of X (squared norms ``sq``) and of C, clipped at 0."""
    dist = X @ C.T
    dist *= -2.0
    dist += sq[:, None]
    dist += np.einsum("ij,ij->i", C, C)[None, :]
    np.maximum(dist, 0.0, out=dist)
    return dist


def _ward(X: np.ndarray, k: int):
    if X.shape[0] > _WARD_MAX_POINTS:
        raise ValueError(
            f"backend='ward' keeps an n x n distance matrix; {X.shape[0]} tokens exceed its limit of "
            f"{_WARD_MAX_POINTS}: use backend='faiss' or 'sklearn', or select fewer tokens"
        )
    from sklearn.cluster import AgglomerativeClustering

    labels = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(X)
    sums = np.zeros((k, X.shape[1]))
    np.add.at(sums, labels, X.astype(np.float64))
    centroids = sums / np.bincount(labels, minlength=k)[:, None]
    return labels, centroids
