"""The report section's plain statements about the controls, on results whose controls are known."""

from __future__ import annotations

from crossling.concepts.report import FEW_CONCEPTS, REACH, control_notes


def test_values_within_reach_of_the_sentence_baseline_are_said_so(bound_result):
    """Layer 0's concepts are sentence blocks: CALIGN 100 against a sentence baseline of 100."""
    notes = control_notes(bound_result)
    assert REACH == 0.5 and FEW_CONCEPTS == 10
    within = [n for n in notes if n.startswith("CALIGN en-de at layer") and "within reach" in n]
    assert within and "layer 0" in within[0] and "(100.0%" in within[0]
    # Eight concepts per clustering: every layer rests on fewer than ten eligible concepts.
    assert any(n.startswith("CALIGN de-en at layers 0, 1 rests on fewer than 10 eligible concepts") for n in notes)
    assert any(n.startswith("Held out (dictionary from the other half of the sentences), CALIGN en-de at layer 1 "
                            "is 0.0%") for n in notes)
    assert any(n.startswith("COLAP en-de at layer") and "within reach" in n for n in notes)


def test_a_value_far_from_the_baseline_is_said_so_too(bound_result):
    """Layer 1 is noise: CALIGN there stays far below the sentence baseline."""
    from dataclasses import replace

    only_noise = replace(bound_result, calign=bound_result.calign[bound_result.calign["layer"] == 1])
    notes = control_notes(only_noise)
    assert any(n.startswith("CALIGN en-de stays below 50% of the sentence baseline (100.0%) at every layer")
               for n in notes)


def test_without_sentences_there_is_no_baseline_statement(planted_result):
    """Without sentences there is no sentence baseline: no statement about it, only the count of concepts."""
    notes = control_notes(planted_result)
    assert not any("sentence baseline" in n for n in notes)
    assert any("rests on fewer than 10 eligible concepts" in n for n in notes)
