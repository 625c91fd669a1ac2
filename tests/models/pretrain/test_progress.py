"""One progress display per model: tqdm on a terminal, plain lines in a log."""

from __future__ import annotations

from crossling.models.pretrain import TrainEvent, TrainingBars


def test_progress_lines_in_a_log(capsys):
    bars = TrainingBars()
    for step in range(1, 11):
        bars(TrainEvent("mono-xx", step, 10, 1.0, 0.5 if step % 5 == 0 else None))
    for step in range(4, 7):  # a resumed model: its first event is the step after its checkpoint
        bars(TrainEvent("multilingual", step, 20, 1.0, None))
    bars.close()
    lines = capsys.readouterr().err.splitlines()  # pytest's stderr is no terminal
    mono = [line.split(",")[0] for line in lines if line.startswith("mono-xx:")]
    assert mono == ["mono-xx: 0/10 step (0%)"] + [f"mono-xx: {n}/10 step ({10 * n}%)" for n in range(1, 11)]
    multi = [line.split(",")[0] for line in lines if line.startswith("multilingual:")]
    # one line per tenth; closing a model that stopped short of its budget says where it stopped
    assert multi == ["multilingual: 3/20 step (15%)", "multilingual: 4/20 step (20%)",
                     "multilingual: 6/20 step (30%)", "multilingual: 6/20 step (30%)"]
