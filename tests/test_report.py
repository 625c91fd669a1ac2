"""The HTML report: self-contained, tables equal to the parquet files, provenance shown."""

from __future__ import annotations

import base64
import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from crossling._utils.io import write_table
from crossling.exceptions import ReportError
from crossling.report import format_number, write_report, write_section


def _study(run_dir, name, values):
    study = run_dir / name
    (study / "figures").mkdir(parents=True)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot(values)
    fig.savefig(study / "figures" / "curve.png")
    plt.close(fig)
    write_table(pd.DataFrame({"layer": range(len(values)), "value": values}), study, "values")
    (study / "manifest.json").write_text(json.dumps({"model": "tiny", "seed": 7}))
    write_section(study, {
        "title": f"Study {name}", "summary": "A planted curve.",
        "figures": [{"file": "figures/curve.png", "caption": "Value by layer", "reading": "Rising means more."}],
        "tables": [{"file": "values.parquet", "caption": "Values", "max_rows": 3}],
        "provenance": "manifest.json"})


def test_report_is_self_contained_and_holds_the_numbers(tmp_path):
    _study(tmp_path, "a", [0.125, 0.5, 0.75, 0.875])
    _study(tmp_path, "b", [1.0, 2.0])
    page = write_report(tmp_path).read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no external request
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "Study a" in page and "Rising means more." in page and "&quot;seed&quot;: 7" in page
    assert "0.125" in page and "0.75" in page and "first 3 of 4 rows" in page
    assert "0.875" not in page  # cut at max_rows, and said so


def test_sections_follow_the_given_order_then_names(tmp_path):
    for name in ("b", "a", "c"):
        _study(tmp_path, name, [1.0, 2.0])

    def titles(page):
        return re.findall(r"<h2>(Study \w)</h2>", page)

    assert titles(write_report(tmp_path, order=()).read_text()) == ["Study a", "Study b", "Study c"]
    assert titles(write_report(tmp_path, order=["c", "missing", "a"]).read_text()) == ["Study c", "Study a", "Study b"]


def test_missing_pieces_are_clear_errors(tmp_path):
    with pytest.raises(ReportError, match="no study results"):
        write_report(tmp_path)
    with pytest.raises(ReportError, match="does not exist"):
        write_section(tmp_path, {"title": "x", "figures": [{"file": "nope.png"}]})


def test_report_renders_in_chromium(tmp_path):
    from browser import assert_tables_match, view

    _study(tmp_path, "a", [0.125, 0.5, 0.75, 0.875])
    _study(tmp_path, "b", [1.0, 2.0])
    page = view(write_report(tmp_path), screenshot=tmp_path / "shot.png")
    assert page.console_errors == [] and page.failed_requests == []
    assert len(page.image_sizes) == 2 and all(w > 0 and h > 0 for w, h in page.image_sizes)
    assert [t["source"] for t in page.tables] == ["a/values.parquet", "b/values.parquet"]
    assert assert_tables_match(page, tmp_path) == 3 * 2 + 2 * 2
    assert (tmp_path / "shot.png").stat().st_size > 1000


@pytest.mark.parametrize("value, text", [
    (0.125, "0.1250"), (0.75, "0.7500"), (12.3456, "12.35"), (1234.5, "1,234"), (0.0012346, "0.001235"),
    (1.2345e-5, "1.234e-05"), (2.5e7, "2.500e+07"), (0.0, "0"), (-3.14159, "-3.142"), (float("nan"), "NaN"),
    (float("inf"), "inf"),
])
def test_one_number_format(value, text):
    assert format_number(value) == text
