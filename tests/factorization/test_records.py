"""crossling.factorization.records: what a pre-trained folder's training_record.json tells the analysis."""

from __future__ import annotations

import json

from crossling.data.romanize import CONVENTION
from crossling.factorization.records import (
    model_caveats,
    pretraining_characters,
    read_training_record,
    romanization_caveats,
)


def _record(val, unigram, corpus=None):
    return {"val_loss": val, "unigram_loss": unigram, "experiment": {"corpus": corpus or {}}}


def test_read_record_and_characters(tmp_path):
    corpus = {"characters": {"zh": {"distinct_at_coverage": 3012, "characters": 9, "distinct": 9, "coverage": 0.999},
                             "en": {"distinct_at_coverage": None}}}
    (tmp_path / "training_record.json").write_text(json.dumps(_record({}, {}, corpus)))
    record = read_training_record(tmp_path)
    assert pretraining_characters(record, ["zh", "en", "ja"]) == {"zh": 3012}
    assert read_training_record("xlm-roberta-base") is None and read_training_record(tmp_path / "none") is None
    assert pretraining_characters(None, ["zh"]) == {} and pretraining_characters({"val_loss": {}}, ["zh"]) == {}


def test_a_model_that_did_not_beat_its_unigram_baseline_gets_a_caveat():
    # The demo's models: held-out loss above the unigram baseline's for every language.
    records = {"experimental": _record({"en": 5.99, "ja": 6.70}, {"en": 5.74, "ja": 6.17}),
               "control/en": _record({"en": 4.0}, {"en": 5.5}), "control/ja": None}
    rows, caveats = model_caveats(records, {"experimental": ["en", "ja"], "control/en": ["en"], "control/ja": ["ja"]})
    assert [(r["model"], r["language"]) for r in rows] == [("experimental", "en"), ("experimental", "ja"),
                                                          ("control/en", "en")]
    assert rows[2]["below_unigram"] == 1.5
    assert len(caveats) == 1 and caveats[0].startswith("The experimental model did not beat its unigram baseline")
    assert "en (5.99 against 5.74 nats), ja (6.70 against 6.17 nats)" in caveats[0]


def test_romanisation_of_pretraining_and_analysis_compared():
    old = {"experiment": {"corpus": {"romanized": ["zh"]}}}  # romanised before the convention was recorded
    summary, caveats = romanization_caveats(old, ["zh"], ["en", "zh"])
    assert summary["pretraining"] == ["zh"] and summary["convention"] == CONVENTION
    assert len(caveats) == 1 and "without the recorded convention" in caveats[0]
    new = {"experiment": {"corpus": {"romanized": ["zh"], "romanization": CONVENTION}}}
    assert romanization_caveats(new, ["zh"], ["en", "zh"])[1] == []
    _, caveats = romanization_caveats(new, [], ["en", "zh"])
    assert len(caveats) == 1 and "for ['zh']" in caveats[0]
    summary, caveats = romanization_caveats(None, ["zh"], ["zh", "en"])
    assert summary["pretraining"] is None and caveats == []
