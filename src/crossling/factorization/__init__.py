"""The joint-factorization study (Zhao, Ziser and Cohen 2023)."""

from crossling.factorization.run import *  # noqa: F401,F403
from crossling.factorization.run import __all__  # noqa: F401
