"""The joint-factorization study (Zhao, Ziser and Cohen 2023): PARAFAC2 signatures of languages.

=====================  =======================================================================================
module                 role
=====================  =======================================================================================
``crosscov``           measures: words per category, word alignment, the cross-covariances Omega_l
``parafac2``           the PARAFAC2 solver (and generators of test problems)
``signatures``         one PARAFAC2 per (category, layer), the well-posed default fit, signatures as a table
``diagnostics``        is a fit trustworthy: degeneracy, core consistency, settling, agreement of starts
``statistics``         the study's tables of trend, correlation and variance tests
``study``              ``compute_factorization``: slices in, every table out (no files, no models)
``run``                ``FactorizationConfig`` and ``run_factorization``: corpora, models, disk
``plots``, ``report``  figures and the report section
=====================  =======================================================================================

The solver is imported from its module (``from crossling.factorization.parafac2 import parafac2``): a function
of the same name here would hide the module.
"""

from crossling.factorization.crosscov import (
    ALL_WORDS,
    CATEGORIES,
    AlignedWords,
    align_words,
    category_words,
    cross_covariances,
)
from crossling.factorization.run import FactorizationConfig, run_factorization, study_sentences
from crossling.factorization.signatures import fit_signatures, signature_table
from crossling.factorization.study import (
    AVERAGE,
    FactorizationOptions,
    FactorizationResult,
    compute_factorization,
    plan_fits,
)

__all__ = [
    "ALL_WORDS",
    "AVERAGE",
    "CATEGORIES",
    "AlignedWords",
    "FactorizationConfig",
    "FactorizationOptions",
    "FactorizationResult",
    "align_words",
    "category_words",
    "compute_factorization",
    "cross_covariances",
    "fit_signatures",
    "plan_fits",
    "run_factorization",
    "signature_table",
    "study_sentences",
]
