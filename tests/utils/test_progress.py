"""Progress off a terminal: plain lines at each tenth of the work, the last one at the end."""

from __future__ import annotations

from crossling._utils.progress import LineProgress, progress_bar


def test_lines_at_each_tenth(capsys):
    bar = progress_bar(20, "extracting en", "sentence")  # stderr is captured: not a terminal
    assert isinstance(bar, LineProgress)
    for _ in range(20):
        bar.update()
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("extracting en: 0/20 sentence (0%)")
    assert [line.split(":")[1].split()[0] for line in lines] == [f"{2 * k}/20" for k in range(11)]


def test_resumed_work_starts_where_it_was_and_disabled_is_silent(capsys):
    bar = progress_bar(10, "x", "shard", initial=7)
    bar.update(3)
    bar.close()
    assert capsys.readouterr().err.splitlines()[0].startswith("x: 7/10 shard (70%)")
    quiet = progress_bar(10, "x", "shard", enabled=False)
    quiet.update(10)
    quiet.close()
    assert capsys.readouterr().err == ""
