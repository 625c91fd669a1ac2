"""Results over several seeds: one row per seed in, mean and range per group out.

A clustering of one seed is one draw: K-means starts from seeded centres, the capped word occurrences are
a seeded sample and the word alignment behind the dictionaries is a sampler's draw. The study therefore runs
every seed and reports, per layer and direction (or language set), the mean over seeds with the standard
deviation and the range (smallest and largest value); the figures draw the range as a band.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["over_seeds"]


def over_seeds(table: pd.DataFrame, keys: Sequence[str], values: Sequence[str], *,
               spread: Sequence[str] = ()) -> pd.DataFrame:
    """Mean over seeds of ``values`` per group of ``keys``, with the spread of some of them.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per (group, seed): the ``keys`` columns, a ``seed`` column and the ``values`` columns.
    keys : sequence of str
        The columns that identify a group (e.g. ``layer, direction``); groups keep their first order.
    values : sequence of str
        Numeric columns averaged over seeds (NaN values are left out of a mean; all NaN gives NaN).
    spread : sequence of str, optional
        Columns of ``values`` that also get ``<name>_sd`` (sample standard deviation, ddof = 1; NaN with
        one seed), ``<name>_min`` and ``<name>_max``, placed right after the mean.

    Returns
    -------
    pandas.DataFrame
        One row per group: ``keys``, then each value (with its spread columns), then ``n_seeds`` (the
        seeds in the group).

    Raises
    ------
    ValueError
        When a column is missing, or a group lists a seed twice.
    """
    missing = [c for c in [*keys, "seed", *values] if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks the columns {missing}")
    if table.duplicated([*keys, "seed"]).any():
        raise ValueError("a group lists a seed twice")
    groups = table.groupby(list(keys), sort=False, dropna=False)
    parts = {}
    for name in values:
        column = groups[name]
        parts[name] = column.mean()
        if name in spread:
            parts[f"{name}_sd"] = column.std(ddof=1)
            parts[f"{name}_min"] = column.min()
            parts[f"{name}_max"] = column.max()
    out = pd.DataFrame(parts)
    out["n_seeds"] = groups["seed"].nunique().astype(np.int64)
    return out.reset_index()
