"""crossling.trees: distances, UPGMA, Newick and taxonomy agreement on examples with known answers."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.cluster import hierarchy
from scipy.spatial.distance import pdist, squareform

from crossling.exceptions import DegenerateInputWarning
from crossling.trees import (
    DistanceMatrix,
    Tree,
    average_distances,
    cophenetic_distances,
    cosine_distances,
    taxonomy_distances,
    to_newick,
    tree_agreement,
    upgma,
)

LANGUAGES_TSV = Path(__file__).resolve().parents[1] / "src" / "crossling" / "data" / "languages.tsv"

# The UPGMA example of Wikipedia ("UPGMA", after Sokal and Michener): distances between the 5S rRNA of
# five bacteria a..e. Worked by hand: a,b merge at 17; (a,b),e at 22; c,d at 28; the root at 33, giving
# (((a:8.5,b:8.5):2.5,e:11):5.5,(c:14,d:14):2.5);
WIKI = DistanceMatrix(
    ("a", "b", "c", "d", "e"),
    np.array([[0, 17, 21, 31, 23],
              [17, 0, 30, 34, 21],
              [21, 30, 0, 28, 39],
              [31, 34, 28, 0, 43],
              [23, 21, 39, 43, 0]], dtype=float),
)


def _taxonomy() -> pd.DataFrame:
    table = pd.read_csv(LANGUAGES_TSV, sep="\t")
    return table.rename(columns={"iso639_1": "language", "language": "name"})


def _parse_newick(text: str) -> dict[tuple[str, str], float]:
    """Path lengths between every pair of leaves of a Newick tree (a small independent reader)."""
    tokens = re.findall(r"'(?:[^']|'')*'|[(),:;]|[^(),:;']+", text)
    pos = 0
    distances: dict[tuple[str, str], float] = {}

    def walk() -> dict[str, float]:
        """Read one subtree; return each of its leaves' path length down from its root."""
        nonlocal pos
        if tokens[pos] != "(":
            name = tokens[pos]
            pos += 1
            return {name[1:-1].replace("''", "'") if name.startswith("'") else name: 0.0}
        pos += 1
        children = []
        while True:
            depths = walk()
            length = 0.0
            if tokens[pos] == ":":
                length = float(tokens[pos + 1])
                pos += 2
            children.append({leaf: d + length for leaf, d in depths.items()})
            if tokens[pos] == ",":
                pos += 1
                continue
            assert tokens[pos] == ")"
            pos += 1
            break
        for left, right in itertools.combinations(children, 2):
            for a, da in left.items():
                for b, db in right.items():
                    distances[(a, b)] = distances[(b, a)] = da + db
        return {leaf: d for child in children for leaf, d in child.items()}

    walk()
    assert tokens[pos:] == [";"]
    return distances


# --- distances ----------------------------------------------------------------------------------------


def test_cosine_distances_known_answers_and_scipy():
    vectors = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [3.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    d = cosine_distances(vectors, labels=["a", "b", "c", "d"])
    assert d.values[0, 1] == pytest.approx(1.0)  # orthogonal
    assert d.values[0, 2] == pytest.approx(0.0, abs=1e-15)  # same direction, other length
    assert d.values[0, 3] == pytest.approx(1 - 1 / math.sqrt(2))
    rng = np.random.default_rng(1)
    signatures = rng.uniform(size=(9, 20))
    labels = [f"l{i}" for i in range(9)]
    np.testing.assert_allclose(cosine_distances(signatures, labels=labels).condensed(),
                               pdist(signatures, metric="cosine"), atol=1e-14)


def test_cosine_distance_of_zero_vector_is_nan_and_blocks_a_tree():
    with pytest.warns(DegenerateInputWarning, match=r"\['b'\]"):
        d = cosine_distances(np.array([[1.0, 2.0], [0.0, 0.0], [2.0, 1.0]]), labels=["a", "b", "c"])
    assert np.isnan(d.values[0, 1]) and d.values[1, 1] == 0 and not np.isnan(d.values[0, 2])
    with pytest.raises(ValueError, match=r"2 distance\(s\) are undefined.*\['a-b', 'b-c'\]"):
        upgma(d)


def test_distance_matrix_validation():
    with pytest.raises(ValueError, match="symmetric"):
        DistanceMatrix(("a", "b"), np.array([[0.0, 1.0], [2.0, 0.0]]))
    with pytest.raises(ValueError, match="unique"):
        DistanceMatrix(("a", "a"), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="zero diagonal"):
        DistanceMatrix(("a", "b"), np.ones((2, 2)))
    assert WIKI.reindex(["e", "a", "b", "c", "d"]).values[0, 1] == 23
    frame = WIKI.to_frame()
    assert len(frame) == 10 and frame.iloc[0].tolist() == ["a", "b", 17.0]


def test_average_distances_missing_language_counts_as_one():
    first = DistanceMatrix(("en", "de", "fi"), np.array([[0, 0.2, 0.8], [0.2, 0, 0.6], [0.8, 0.6, 0]]))
    second = DistanceMatrix(("de", "en"), np.array([[0, 0.4], [0.4, 0]]))  # no Finnish in this category
    mean = average_distances({"Case": first, "Tense": second})
    assert mean.labels == ("en", "de", "fi")
    expected = np.array([[0, 0.3, 0.9], [0.3, 0, 0.8], [0.9, 0.8, 0]])
    np.testing.assert_allclose(mean.values, expected)
    ordered = average_distances([first, second], labels=["fi", "en", "de"])
    np.testing.assert_allclose(ordered.values, mean.reindex(["fi", "en", "de"]).values)
    with pytest.raises(ValueError, match="each of the 3"):
        average_distances([first, second], labels=["en", "de"])


# --- UPGMA and Newick -------------------------------------------------------------------------------


def test_upgma_textbook_merge_heights():
    tree = upgma(WIKI)
    np.testing.assert_allclose(tree.linkage[:, 2], [17, 22, 28, 33])
    coph = cophenetic_distances(tree)
    assert coph.values[0, 4] == 22 and coph.values[2, 3] == 28 and coph.values[1, 3] == 33


def test_newick_textbook_string():
    tree = upgma(WIKI)
    assert to_newick(tree) == "(((a:8.5,b:8.5):2.5,e:11):5.5,(c:14,d:14):2.5);"
    assert to_newick(tree, branch_lengths=False) == "(((a,b),e),(c,d));"


def test_newick_parses_back_to_the_cophenetic_distances():
    rng = np.random.default_rng(7)
    labels = ["en", "de", "Old Norse", "fr", "it's", "zh", "ja", "x(y)"]
    tree = upgma(cosine_distances(rng.uniform(size=(8, 5)), labels=labels))
    text = to_newick(tree)
    assert "'Old Norse'" in text and "'it''s'" in text and "'x(y)'" in text
    paths = _parse_newick(text)
    coph = cophenetic_distances(tree)
    for (i, a), (j, b) in itertools.combinations(enumerate(labels), 2):
        assert paths[(a, b)] == pytest.approx(coph.values[i, j], rel=1e-9)


# --- agreement with the taxonomy ------------------------------------------------------------------------


def test_taxonomy_distances_levels():
    d = taxonomy_distances(["en", "de", "fr", "fi", "et", "hu", "ja"], _taxonomy())
    by = dict(zip(d.labels, range(7)))
    assert d.values[by["en"], by["de"]] == 0.0  # Germanic
    assert d.values[by["en"], by["fr"]] == 0.5  # Indo-European
    assert d.values[by["fi"], by["et"]] == 0.0 and d.values[by["fi"], by["hu"]] == 0.5  # Finnic, Ugric
    assert d.values[by["en"], by["ja"]] == 1.0
    with pytest.raises(ValueError, match=r"\['xx'\]"):
        taxonomy_distances(["en", "xx"], _taxonomy())


def test_tree_equal_to_taxonomy_has_correlation_one():
    languages = ["da", "nl", "en", "de", "fr", "it", "es", "pl", "ru", "fi", "et", "hu", "ar", "he", "ja", "ko"]
    taxonomy = _taxonomy()
    tree = upgma(taxonomy_distances(languages, taxonomy))
    result = tree_agreement(tree, taxonomy, n_permutations=999, seed=1)
    assert result.statistic == pytest.approx(1.0)
    assert result.pvalue <= 0.01
    assert result.n_leaves == 16 and result.n_permutations == 999 and result.seed == 1


def test_tree_agreement_against_scipy_and_exact_permutation_distribution():
    languages = ["en", "de", "fr", "it", "fi", "hu"]
    taxonomy = _taxonomy()
    reference = taxonomy_distances(languages, taxonomy)
    rng = np.random.default_rng(11)
    tree = upgma(DistanceMatrix(tuple(languages), squareform(rng.uniform(0.1, 1.0, size=15))))
    result = tree_agreement(tree, taxonomy, n_permutations=20000, seed=3)
    # scipy's cophenet(Z, Y) is the correlation of the tree's cophenetic distances with Y.
    r, _ = hierarchy.cophenet(tree.linkage, reference.condensed())
    assert result.statistic == pytest.approx(r)
    # The exact p-value enumerates all 720 relabellings of the leaves.
    coph = cophenetic_distances(tree).values
    iu = np.triu_indices(6, k=1)
    perms = [np.corrcoef(coph[np.ix_(p, p)][iu], reference.values[iu])[0, 1]
             for p in map(list, itertools.permutations(range(6)))]
    exact = np.mean(np.array(perms) >= r - 1e-12)
    assert result.pvalue == pytest.approx(exact, abs=0.01)
    again = tree_agreement(tree, taxonomy, n_permutations=20000, seed=3, batch_size=777)
    assert again.pvalue == result.pvalue  # seeded, and independent of the batching


def test_tree_agreement_degenerate_taxonomy():
    taxonomy = _taxonomy()
    tree = upgma(DistanceMatrix(("en", "zh", "ja"), np.array([[0, 0.3, 0.6], [0.3, 0, 0.5], [0.6, 0.5, 0]])))
    with pytest.warns(DegenerateInputWarning, match="taxonomy distances are constant"):
        result = tree_agreement(tree, taxonomy, n_permutations=10)
    assert math.isnan(result.statistic) and math.isnan(result.pvalue)
    with pytest.raises(ValueError, match="n_permutations"):
        tree_agreement(tree, taxonomy, n_permutations=0)
    assert isinstance(tree, Tree) and tree.method == "UPGMA"
