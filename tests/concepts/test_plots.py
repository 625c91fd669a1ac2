"""The figures and the Markdown examples of the concept study, on the planted result."""

from __future__ import annotations

import pandas as pd

from crossling.concepts.plots import _colours, aligned_examples_markdown, plot_calign, write_concepts_figures


def test_figures_and_examples(planted_result, tmp_path):
    files = write_concepts_figures(planted_result, tmp_path, example_layer=6)
    # overlap_examples.png is new (issue 15): the overlapping concepts of layer 6 are drawn too
    assert files == [tmp_path / "calign.png", tmp_path / "colap.png", tmp_path / "aligned_examples.png",
                     tmp_path / "overlap_examples.png"]
    assert (tmp_path / "calign.png").stat().st_size > 1000 and (tmp_path / "colap.png").stat().st_size > 1000
    assert (tmp_path / "aligned_examples.png").read_bytes()[:4] == b"\x89PNG"
    md = aligned_examples_markdown(planted_result, layer=6, n_examples=2)
    assert "## en-de: CALIGN 100.0% (8 of 8)" in md and "✓" in md
    assert sum(line.startswith("| en concept") for line in md.splitlines()) == 2  # n_examples per direction


def test_no_aligned_concept_gives_no_example_figure(planted_result, tmp_path):
    """At layer 12 the German concepts are scattered: nothing aligns, so there is nothing to draw."""
    files = write_concepts_figures(planted_result, tmp_path, example_layer=12)
    # the joint clustering of layer 12 still mixes languages, so its overlap examples are drawn (issue 15)
    assert [f.name for f in files] == ["calign.png", "colap.png", "overlap_examples.png"]
    assert "No aligned concept." in aligned_examples_markdown(planted_result, layer=12)


def test_a_pair_and_its_set_share_a_colour():
    colours = _colours(["en-de", "en-fr", "en-de", "en-de-fr"])
    assert list(colours) == ["en-de", "en-fr", "en-de-fr"] and len(set(colours.values())) == 3


def test_calign_figure_reads_solid_from_the_pair_label(tmp_path, monkeypatch):
    """Even when the back direction comes first in the table, the pair's own direction is the solid line."""
    import crossling.concepts.plots as plots

    drawn = []
    monkeypatch.setattr(plots, "save_figure", lambda figure, path: drawn.append(figure) or path)
    table = pd.DataFrame({"layer": [0, 1, 0, 1], "pair": ["en-de"] * 4,
                          "direction": ["de-en", "de-en", "en-de", "en-de"], "source": ["de", "de", "en", "en"],
                          "calign_percent": [10.0, 20.0, 30.0, 40.0]})
    plot_calign(table, tmp_path / "c.png")
    ax = drawn[0].axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert lines["en-de"].get_linestyle() == "-" and lines["de-en"].get_linestyle() == "--"
    assert lines["en-de"].get_color() == lines["de-en"].get_color()
    assert lines["en-de"].get_ydata().tolist() == [30.0, 40.0]
    assert ax.get_ylabel() == "CALIGN (% of concepts aligned)" and ax.get_xlabel() == "layer (0 = embeddings)"


def test_a_base_model_is_dotted_and_seeds_are_a_band(tmp_path, monkeypatch):
    """Issue 15: the base model overlays the model dotted; the seed range is shaded; the baseline is dash-dotted."""
    import crossling.concepts.plots as plots

    drawn = []
    monkeypatch.setattr(plots, "save_figure", lambda figure, path: drawn.append(figure) or path)
    rows = []
    for model, shift in (("model", 0.0), ("base", -5.0)):
        for direction in ("en-de", "de-en"):
            for layer in (0, 1):
                value = 30.0 + 10 * layer + shift
                rows.append({"model": model, "layer": layer, "pair": "en-de", "direction": direction,
                             "source": direction[:2], "calign_percent": value, "calign_percent_min": value - 2,
                             "calign_percent_max": value + 2, "sentence_baseline_percent": 80.0})
    plot_calign(pd.DataFrame(rows), tmp_path / "c.png")
    ax = drawn[0].axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert lines["en-de"].get_linestyle() == "-" and lines["de-en"].get_linestyle() == "--"
    assert lines["en-de (base)"].get_linestyle() == ":" and lines["de-en (base)"].get_linestyle() == ":"
    assert lines["en-de (base)"].get_ydata().tolist() == [25.0, 35.0]
    assert lines["en-de sentence baseline"].get_linestyle() == "-." and lines["en-de sentence baseline"].get_ydata(
        ).tolist() == [80.0, 80.0]
    assert len(ax.collections) == 4  # one band per line: 2 directions x 2 models
    assert len(drawn[0].axes) == 1  # no held-out columns: one panel
