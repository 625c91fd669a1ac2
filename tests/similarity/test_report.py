"""The report says in plain words which values are within reach of their null baseline."""

from __future__ import annotations

import pandas as pd

from crossling.similarity.report import noise_reading


def _table(beyond):
    return pd.DataFrame({"index": "cca", "layer": [0, 0, 1, 1], "pair": ["en-de", "en-fr"] * 2,
                         "value": [0.6, 0.61, 0.7, 0.72], "null": [0.55, 0.549, 0.551, -0.001],
                         "beyond_null": pd.array(beyond, dtype="boolean")})


def test_plain_words_for_noise():
    assert noise_reading(_table([True] * 4), "cca", "CCA") == (
        "CCA: every value rises beyond its null baseline (unrelated sentences score 0.41 here, 0.00 to 0.55 across "
        "layers and pairs), so the curves show similarity.")
    none = noise_reading(_table([False] * 4), "cca", "CCA")
    assert none.startswith("CCA: no value rises beyond its null baseline") and "read them as noise" in none
    some = noise_reading(_table([False, False, True, False]), "cca", "CCA")
    assert some.startswith("CCA: 3 of 4 values are within reach of their null baseline")
    assert "; at layer 0 no pair is beyond it." in some
    no_null = _table([True] * 4).assign(null=float("nan"), beyond_null=pd.NA)
    assert noise_reading(no_null, "cca", "CCA") == ""
