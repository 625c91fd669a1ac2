"""Language trees from signatures: cosine distances, UPGMA, Newick, agreement with a taxonomy.

The joint-factorization study (Zhao, Ziser and Cohen, 2023) clusters languages by their PARAFAC2
signatures and compares the tree with the family/genus classification of WALS. Here:

- :func:`cosine_distances`: distance matrix of signature vectors (a distance, 1 - cosine similarity);
- :func:`average_distances`: the average matrix over categories (a language missing from a category is
  at distance 1 from every other language there);
- :func:`upgma` and :func:`to_newick`: the UPGMA tree and its Newick text;
- :func:`taxonomy_distances` and :func:`tree_agreement`: cophenetic correlation of the tree with a
  taxonomy distance (0 same genus, 0.5 same family, 1 otherwise) and a permutation p-value.

NaN policy as in :mod:`crossling.stats`: an undefined distance is NaN with a
:class:`~crossling.exceptions.DegenerateInputWarning`; a tree cannot be built from a matrix with NaN (error).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from crossling.exceptions import DegenerateInputWarning

__all__ = [
    "DistanceMatrix",
    "Tree",
    "TreeAgreement",
    "average_distances",
    "cophenetic_distances",
    "cosine_distances",
    "taxonomy_distances",
    "to_newick",
    "tree_agreement",
    "upgma",
]

_NEWICK_SPECIAL = set(" \t\n()[]':;,")


@dataclass(frozen=True)
class DistanceMatrix:
    """A labelled, symmetric distance matrix with a zero diagonal.

    Attributes
    ----------
    labels : tuple of str, length n
        Language codes, in the order of the rows.
    values : ndarray, shape (n, n), float64
        Distances (NaN where undefined).
    """

    labels: tuple[str, ...]
    values: np.ndarray

    def __post_init__(self) -> None:
        labels = tuple(str(label) for label in self.labels)
        values = np.asarray(self.values, dtype=np.float64)
        n = len(labels)
        if len(set(labels)) != n:
            raise ValueError(f"labels must be unique, got {labels}")
        if values.shape != (n, n):
            raise ValueError(f"values must have shape ({n}, {n}) for {n} labels, got {values.shape}")
        if np.isinf(values).any():
            raise ValueError("distances must be finite (NaN marks an undefined distance)")
        if not np.allclose(values, values.T, rtol=1e-10, atol=1e-12, equal_nan=True):
            raise ValueError("a distance matrix must be symmetric")
        if np.any(np.diag(values) != 0):
            raise ValueError("a distance matrix must have a zero diagonal")
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "values", values)

    def condensed(self) -> np.ndarray:
        """The upper triangle, row by row, as :func:`scipy.spatial.distance.squareform` gives it.

        Returns
        -------
        ndarray, shape (n (n - 1) / 2,)
        """
        return squareform(self.values, checks=False)

    def reindex(self, labels: Sequence[str]) -> DistanceMatrix:
        """The same distances with rows and columns in the order of ``labels``.

        Parameters
        ----------
        labels : sequence of str
            A permutation of :attr:`labels`.

        Returns
        -------
        DistanceMatrix

        Raises
        ------
        ValueError
            When ``labels`` is not a permutation of the matrix's labels.
        """
        labels = tuple(labels)
        if sorted(labels) != sorted(self.labels):
            raise ValueError(f"reindex needs a permutation of {self.labels}, got {labels}")
        position = {label: i for i, label in enumerate(self.labels)}
        order = np.array([position[label] for label in labels])
        return DistanceMatrix(labels, self.values[np.ix_(order, order)])

    def to_frame(self) -> pd.DataFrame:
        """The upper triangle as a tidy table.

        Returns
        -------
        DataFrame
            Columns ``language_a``, ``language_b``, ``distance``; one row per pair, ``language_a`` before
            ``language_b`` in label order.
        """
        i, j = np.triu_indices(len(self.labels), k=1)
        return pd.DataFrame({"language_a": np.array(self.labels, dtype=object)[i],
                             "language_b": np.array(self.labels, dtype=object)[j],
                             "distance": self.values[i, j]})


@dataclass(frozen=True)
class Tree:
    """A rooted binary tree over labelled leaves, in SciPy's linkage encoding.

    Attributes
    ----------
    labels : tuple of str, length n
        Leaf names; leaf i of ``linkage`` is ``labels[i]``.
    linkage : ndarray, shape (n - 1, 4)
        SciPy linkage matrix: row r merges clusters ``linkage[r, 0]`` and ``linkage[r, 1]`` at distance
        ``linkage[r, 2]`` into cluster n + r of ``linkage[r, 3]`` leaves.
    method : str
        How the tree was built (``"UPGMA"``).
    """

    labels: tuple[str, ...]
    linkage: np.ndarray
    method: str = "UPGMA"


def cosine_distances(vectors: np.ndarray, *, labels: Sequence[str]) -> DistanceMatrix:
    """Cosine distances between signature vectors.

    Parameters
    ----------
    vectors : ndarray, shape (n, k)
        One signature per language (a row of the PARAFAC2 ``S``).
    labels : sequence of str, length n
        The languages of the rows.

    Returns
    -------
    DistanceMatrix
        d(a, b) = 1 - <s_a, s_b> / (||s_a|| ||s_b||), in [0, 2] (in [0, 1] for non-negative signatures).
        A zero vector has no direction: its distances are NaN, with a
        :class:`~crossling.exceptions.DegenerateInputWarning`.

    Raises
    ------
    ValueError
        For vectors that are not a finite 2-D array with one row per label.
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"vectors must have shape (n, k), got {x.shape}")
    if len(labels) != x.shape[0]:
        raise ValueError(f"{len(labels)} labels for {x.shape[0]} vectors")
    if not np.isfinite(x).all():
        raise ValueError("signature vectors must be finite")
    norms = np.linalg.norm(x, axis=1)
    zero = norms == 0
    if zero.any():
        names = [str(labels[i]) for i in np.flatnonzero(zero)]
        warnings.warn(f"zero signature vector for {names}: cosine distance undefined (NaN)",
                      DegenerateInputWarning, stacklevel=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = x / norms[:, None]
    distances = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    distances = (distances + distances.T) / 2  # exact symmetry despite rounding in the product
    np.fill_diagonal(distances, 0.0)
    return DistanceMatrix(tuple(labels), distances)


def average_distances(
    matrices: Mapping[str, DistanceMatrix] | Sequence[DistanceMatrix],
    *,
    labels: Sequence[str] | None = None,
) -> DistanceMatrix:
    """Average of distance matrices over categories, on the union of their languages.

    Parameters
    ----------
    matrices : mapping of category to DistanceMatrix, or sequence of DistanceMatrix
        One matrix per category; each may cover a different subset of languages.
    labels : sequence of str, optional
        Order of the result (must cover every language). Default: languages in order of first appearance.

    Returns
    -------
    DistanceMatrix
        D = (1 / C) sum_c D_c, where a language missing from category c is at distance 1 from every
        other language in D_c (as in Zhao, Ziser and Cohen, 2023).

    Raises
    ------
    ValueError
        For no matrix, or ``labels`` that do not list every language once.
    """
    mats = list(matrices.values()) if isinstance(matrices, Mapping) else list(matrices)
    if not mats:
        raise ValueError("no distance matrices to average")
    union = list(dict.fromkeys(label for m in mats for label in m.labels))
    if labels is None:
        labels = union
    elif set(labels) != set(union) or len(set(labels)) != len(labels):
        raise ValueError(f"labels must list each of the {len(union)} languages once: {sorted(union)}")
    labels = tuple(labels)
    position = {label: i for i, label in enumerate(labels)}
    total = np.zeros((len(labels), len(labels)))
    for m in mats:
        full = np.ones((len(labels), len(labels)))
        index = np.array([position[label] for label in m.labels])
        full[np.ix_(index, index)] = m.values
        np.fill_diagonal(full, 0.0)
        total += full
    return DistanceMatrix(labels, total / len(mats))


def upgma(distances: DistanceMatrix) -> Tree:
    """UPGMA tree (average linkage) of a distance matrix.

    Parameters
    ----------
    distances : DistanceMatrix
        At least 2 languages, no NaN.

    Returns
    -------
    Tree
        Clusters A and B merge at the smallest average distance
        d(A, B) = (1 / |A||B|) sum_{a in A, b in B} d(a, b) (Sokal and Michener, 1958), computed by
        :func:`scipy.cluster.hierarchy.linkage` with ``method="average"``.

    Raises
    ------
    ValueError
        For fewer than 2 languages or an undefined (NaN) distance.
    """
    n = len(distances.labels)
    if n < 2:
        raise ValueError(f"a tree needs at least 2 languages, got {n}")
    i, j = np.nonzero(np.triu(np.isnan(distances.values)))
    if i.size:
        pairs = [f"{distances.labels[a]}-{distances.labels[b]}" for a, b in zip(i[:5], j[:5])]
        raise ValueError(f"cannot build a tree: {i.size} distance(s) are undefined (NaN), e.g. {pairs}")
    linkage = hierarchy.linkage(distances.condensed(), method="average")
    return Tree(distances.labels, linkage)


def cophenetic_distances(tree: Tree) -> DistanceMatrix:
    """Cophenetic distances of a tree: for two leaves, the height at which they first merge.

    Parameters
    ----------
    tree : Tree

    Returns
    -------
    DistanceMatrix
        In the order of ``tree.labels``.
    """
    return DistanceMatrix(tree.labels, squareform(hierarchy.cophenet(tree.linkage)))


def _newick_name(label: str) -> str:
    if _NEWICK_SPECIAL.intersection(label):
        return "'" + label.replace("'", "''") + "'"
    return label


def to_newick(tree: Tree, *, branch_lengths: bool = True, precision: int = 10) -> str:
    """Newick text of a tree.

    Parameters
    ----------
    tree : Tree
    branch_lengths : bool, default True
        Write ``:length`` after every node but the root.
    precision : int, default 10
        Significant digits of the branch lengths.

    Returns
    -------
    str
        E.g. ``"((a:1,b:1):0.5,c:1.5);"``. A node merged at distance h sits at height h / 2 and a
        branch's length is the height difference of its ends, so the path length between two leaves
        equals their cophenetic distance (the ultrametric UPGMA tree). Children are written larger
        subtree first, ties broken by their alphabetically first leaf, so the text is canonical.
        Names with Newick's special characters are single-quoted.
    """
    n = len(tree.labels)
    heights = np.concatenate([np.zeros(n), tree.linkage[:, 2] / 2])
    text = [_newick_name(label) for label in tree.labels]
    sizes = [1] * n
    first = list(tree.labels)
    for row, (a, b, _, size) in enumerate(tree.linkage):
        node = n + row
        children = sorted((int(a), int(b)), key=lambda c: (-sizes[c], first[c]))
        parts = []
        for child in children:
            length = f":{heights[node] - heights[child]:.{precision}g}" if branch_lengths else ""
            parts.append(text[child] + length)
        text.append("(" + ",".join(parts) + ")")
        sizes.append(int(size))
        first.append(min(first[children[0]], first[children[1]]))
    return text[-1] + ";"


def taxonomy_distances(labels: Sequence[str], taxonomy: pd.DataFrame) -> DistanceMatrix:
    """Distances of a two-level classification: 0 same genus, 0.5 same family, 1 otherwise.

    Parameters
    ----------
    labels : sequence of str
        Languages (codes as in ``taxonomy["language"]``).
    taxonomy : DataFrame
        Columns ``language``, ``family``, ``genus`` (e.g. from WALS, as in the study's language table).
        A genus is identified by its (family, genus) pair.

    Returns
    -------
    DistanceMatrix

    Raises
    ------
    ValueError
        For a taxonomy without the columns, with a language twice, or without one of ``labels``.
    """
    missing_columns = {"language", "family", "genus"} - set(taxonomy.columns)
    if missing_columns:
        raise ValueError(f"taxonomy lacks column(s) {sorted(missing_columns)}")
    if taxonomy["language"].duplicated().any():
        raise ValueError("taxonomy lists a language more than once")
    table = taxonomy.set_index("language")
    absent = [label for label in labels if label not in table.index]
    if absent:
        raise ValueError(f"languages {absent} are not in the taxonomy")
    family = table.loc[list(labels), "family"].to_numpy(dtype=object)
    genus = table.loc[list(labels), "genus"].to_numpy(dtype=object)
    same_family = family[:, None] == family[None, :]
    same_genus = same_family & (genus[:, None] == genus[None, :])
    distances = np.where(same_genus, 0.0, np.where(same_family, 0.5, 1.0))
    return DistanceMatrix(tuple(labels), distances)


class TreeAgreement(NamedTuple):
    """Result of :func:`tree_agreement`.

    Attributes
    ----------
    statistic : float
        Cophenetic correlation: Pearson r between the tree's cophenetic distances and the taxonomy
        distances over all pairs of languages.
    pvalue : float
        One-sided permutation p-value, (1 + #{r_perm >= r}) / (1 + n_permutations).
    n_permutations : int
    n_leaves : int
    seed : int or None
        Seed of the permutations.
    """

    statistic: float
    pvalue: float
    n_permutations: int
    n_leaves: int
    seed: int | None


def tree_agreement(
    tree: Tree,
    taxonomy: pd.DataFrame,
    *,
    n_permutations: int = 9999,
    seed: int | None = 0,
    batch_size: int = 1000,
) -> TreeAgreement:
    """Agreement of a tree with a family/genus classification (cophenetic correlation, Mantel test).

    Parameters
    ----------
    tree : Tree
    taxonomy : DataFrame
        Columns ``language``, ``family``, ``genus``; see :func:`taxonomy_distances`.
    n_permutations : int, default 9999
        Random permutations of the tree's leaf labels.
    seed : int or None, default 0
        Seed of :func:`numpy.random.default_rng`.
    batch_size : int, default 1000
        Permutations evaluated at once (memory is batch_size x n(n-1)/2 floats).

    Returns
    -------
    TreeAgreement

    Raises
    ------
    ValueError
        For ``n_permutations`` below 1, or a taxonomy that does not cover the tree's leaves.

    Notes
    -----
    r = corr(c, t) over the n(n-1)/2 pairs, c the cophenetic and t the taxonomy distances (Sokal and
    Rohlf, 1962). Under H0 (the tree's arrangement of languages is unrelated to the taxonomy) the
    leaf labels are exchangeable: each permutation relabels the leaves, permuting rows and columns of
    the cophenetic matrix together (Mantel, 1967). The p-value counts the observed arrangement, so it is
    never 0. A taxonomy or tree with constant distances gives NaN with a
    :class:`~crossling.exceptions.DegenerateInputWarning`.
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be positive, got {n_permutations}")
    n = len(tree.labels)
    cophenetic = cophenetic_distances(tree).values
    iu, ju = np.triu_indices(n, k=1)
    t = taxonomy_distances(tree.labels, taxonomy).values[iu, ju]
    c = cophenetic[iu, ju]
    t_c, c_c = t - t.mean(), c - c.mean()
    t_norm, c_norm = np.linalg.norm(t_c), np.linalg.norm(c_c)
    if t_norm == 0 or c_norm == 0:
        what = "taxonomy" if t_norm == 0 else "tree"
        warnings.warn(f"the {what} distances are constant: cophenetic correlation undefined (NaN)",
                      DegenerateInputWarning, stacklevel=2)
        return TreeAgreement(float("nan"), float("nan"), n_permutations, n, seed)
    # A permutation changes neither the mean nor the norm of the cophenetic distances, and the weights
    # sum to zero, so r_perm = <t_c, c_perm> / (|t_c| |c_c|): one dot product per permutation.
    weights = t_c / (t_norm * c_norm)
    statistic = float(weights @ c_c)
    rng = np.random.default_rng(seed)
    exceed = 0
    done = 0
    while done < n_permutations:
        b = min(batch_size, n_permutations - done)
        perms = rng.permuted(np.tile(np.arange(n), (b, 1)), axis=1)
        permuted = cophenetic[perms[:, iu], perms[:, ju]]
        # Ties with the observed arrangement (e.g. swapping two languages of one genus) must count.
        exceed += int(np.sum(permuted @ weights >= statistic - 1e-12))
        done += b
    pvalue = (1 + exceed) / (1 + n_permutations)
    return TreeAgreement(statistic, pvalue, n_permutations, n, seed)
