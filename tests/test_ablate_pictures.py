"""The ablation report's curves: a curve too short to show as a line is drawn with markers."""

from __future__ import annotations

from netdef.ablate.pictures import _mean_band
from netdef.show.output import pyplot


def _lines(curves, marker=None):
    fig, ax = pyplot().subplots()
    _mean_band(ax, curves, "tab:blue", "base", marker=marker)
    lines = ax.get_lines()
    pyplot().close(fig)
    return lines


def test_a_one_point_curve_is_drawn_with_a_marker():
    """ablate --quick logs one training row per side: a line without markers shows nothing."""
    (line,) = _lines([[(0.5, 0.9)], [(0.5, 0.8)]])
    assert line.get_marker() not in (None, "None", "", " ")
    assert list(line.get_ydata()) == [85.0]


def test_a_long_curve_stays_a_plain_line():
    (line,) = _lines([[(i / 100, 0.5) for i in range(100)]])
    assert line.get_marker() in (None, "None", "", " ")
    (marked,) = _lines([[(i / 100, 0.5) for i in range(100)]], marker="o")
    assert marked.get_marker() == "o"
