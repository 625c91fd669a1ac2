"""The bundled downstream results are the source's numbers, complete per task."""

from __future__ import annotations

import pytest

from crossling.data.downstream import MODELS, SOURCE, downstream_scores
from crossling.exceptions import ConfigError

XNLI = ["en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur"]


@pytest.mark.parametrize("model, average", [("mbert", 66.3), ("xlmr-base", 76.2), ("xlmr-large", 80.9)])
def test_xnli_rows_average_to_the_published_average(model, average):
    scores = downstream_scores(model)
    xnli = scores[scores["task"] == "xnli"]
    assert list(xnli["language"]) == XNLI  # the source's column order
    assert round(xnli["score"].mean(), 1) == average  # Table 1's Avg column


def test_spot_values_and_mlqa():
    x = downstream_scores("xlmr-large").set_index(["task", "language"])["score"]
    assert x["xnli", "en"] == 89.1 and x["xnli", "ur"] == 73.8 and x["mlqa", "zh"] == 68.0
    m = downstream_scores("mbert").set_index(["task", "language"])["score"]
    assert m["xnli", "th"] == 55.8 and m["mlqa", "en"] == 77.7
    assert all(len(downstream_scores(model).query("task == 'mlqa'")) == 7 for model in MODELS)
    assert "Conneau et al. (2020)" in SOURCE


def test_unknown_model():
    with pytest.raises(ConfigError, match="bundled: mbert, xlmr-base, xlmr-large"):
        downstream_scores("gpt-4")
