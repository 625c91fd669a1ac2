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
"""

from crossling.similarity._common import per_layer
from crossling.similarity.canonical import DEFAULT_RIDGE, CCAResult, cca, pwcca, svcca
from crossling.similarity.cka import CKAResult, linear_cka, rbf_cka
from crossling.similarity.neuronwise import ANCResult, anc
from crossling.similarity.retrieval import RetrievalResult, retrieval_accuracy
from crossling.similarity.rownorm import RowNormMoments

__all__ = [
    "ANCResult",
    "CCAResult",
    "CKAResult",
    "DEFAULT_RIDGE",
    "RetrievalResult",
    "RowNormMoments",
    "anc",
    "cca",
    "linear_cka",
    "per_layer",
    "pwcca",
    "rbf_cka",
    "retrieval_accuracy",
    "svcca",
]
