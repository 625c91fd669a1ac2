"""crossling: how multilingual language models represent languages, layer by layer.

Three published analyses, from corpora and models to tables, figures and a report, built on streaming,
mergeable second-moment statistics (:class:`crossling.Moments`) instead of stored activation matrices.
"""

from crossling.moments import Moments

__version__ = "0.1.0"
__all__ = ["Moments", "__version__"]
