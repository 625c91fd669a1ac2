"""Similarity of paired representations (Del and Fishel, 2022): ANC, CKA, CCA, SVCCA, PWCCA, matching.

Every index takes paired representations X (n x p) and Y (n x q), rows aligned (row i of X and of Y are
translations of each other). The indices that are functions of second moments also take a
:class:`crossling.Moments` (or :class:`RowNormMoments`, which debiased linear CKA needs) instead, so one
streaming pass over a corpus suffices. Each index gives one result for one layer; :func:`per_layer` applies it
to every layer of multi-layer statistics and returns a list. All indices are
similarities (1 = identical up to the index's invariances) and return named results whose ``value`` is the
index (``float(result)`` works).

================================  ===================  ===========================================
index                             input                invariant to
================================  ===================  ===========================================
:func:`anc`                       arrays or moments    per-neuron affine maps with positive scale
:func:`linear_cka`                arrays or moments    orthogonal maps, isotropic scaling
:func:`rbf_cka`                   arrays               orthogonal maps, isotropic scaling
:func:`cca`, :func:`pwcca`        arrays or moments    invertible linear maps (ridge = 0)
:func:`svcca`                     arrays or moments    orthogonal maps, isotropic scaling
:func:`retrieval_accuracy`        arrays               (cosine) orthogonal maps of both sides
================================  ===================  ===========================================

Degenerate inputs (constant neurons, too few items for CCA, constant representations) give NaN or a
recorded fallback with a :class:`crossling.exceptions.DegenerateInputWarning` naming the cause.

Which values are noise: :func:`shuffled_null` gives an index's value for the same sentences with the
translations deranged (its null baseline), and :func:`jackknife` its delete-a-group interval over mergeable
shards of the moments; neither forms an n x n matrix (see :mod:`crossling.similarity.baseline` and
:mod:`crossling.similarity.jackknife` for their cost). Where Del and Fishel's paper, their code and the
textbook differ, the convention is an option of the index (``summary`` of :func:`cca`, ``weights`` of
:func:`pwcca`, ``dims`` of :func:`svcca`, ``direction`` and ``ties`` of :func:`retrieval_accuracy`).
"""

from crossling.similarity._common import per_layer
from crossling.similarity.baseline import NullBaseline, shuffled_null
from crossling.similarity.canonical import DEFAULT_RIDGE, CCAResult, cca, pwcca, svcca
from crossling.similarity.cka import CKAResult, linear_cka, rbf_cka
from crossling.similarity.jackknife import Interval, jackknife
from crossling.similarity.neuronwise import ANCResult, anc
from crossling.similarity.retrieval import RetrievalResult, retrieval_accuracy
from crossling.similarity.rownorm import RowNormMoments

__all__ = [
    "ANCResult",
    "CCAResult",
    "CKAResult",
    "DEFAULT_RIDGE",
    "Interval",
    "NullBaseline",
    "RetrievalResult",
    "RowNormMoments",
    "anc",
    "cca",
    "jackknife",
    "linear_cka",
    "per_layer",
    "pwcca",
    "rbf_cka",
    "retrieval_accuracy",
    "shuffled_null",
    "svcca",
]
