"""Seed means and ranges, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crossling.concepts import over_seeds


def test_mean_sd_and_range_per_group():
    table = pd.DataFrame({"layer": [1, 1, 1, 0, 0, 0], "seed": [0, 1, 2, 0, 1, 2],
                          "value": [2.0, 4.0, 9.0, 1.0, 1.0, np.nan], "n": [3, 4, 5, 6, 6, 6]})
    out = over_seeds(table, ["layer"], ["value", "n"], spread=["value"])
    assert out.columns.tolist() == ["layer", "value", "value_sd", "value_min", "value_max", "n", "n_seeds"]
    assert out["layer"].tolist() == [1, 0]  # groups keep their first order
    first = out.iloc[0]
    assert (first["value"], first["value_min"], first["value_max"], first["n"]) == (5.0, 2.0, 9.0, 4.0)
    assert first["value_sd"] == pytest.approx(np.std([2, 4, 9], ddof=1))
    assert out.iloc[1]["value"] == 1.0 and out["n_seeds"].tolist() == [3, 3]  # NaN left out of the mean


def test_one_seed_has_no_sd_and_a_repeated_seed_is_refused():
    one = over_seeds(pd.DataFrame({"g": ["a"], "seed": [0], "v": [3.0]}), ["g"], ["v"], spread=["v"])
    assert np.isnan(one["v_sd"].iloc[0]) and one["v_min"].iloc[0] == one["v_max"].iloc[0] == 3.0
    with pytest.raises(ValueError, match="twice"):
        over_seeds(pd.DataFrame({"g": ["a", "a"], "seed": [0, 0], "v": [1, 2]}), ["g"], ["v"])
    with pytest.raises(ValueError, match="lacks"):
        over_seeds(pd.DataFrame({"g": ["a"], "v": [1]}), ["g"], ["v"])
