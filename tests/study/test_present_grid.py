"""study/present: percentage columns of a table, the small-multiples grid the models and
calibration reports draw their reliability diagrams in, and the error bars of the intervals."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from advlab.study import present as P  # noqa: E402


def test_table_shows_percent_columns_and_not_run():
    html = P.table(pd.DataFrame({"test acc": [0.8981, float("nan")], "n": [1000, 2]}), percent=["test acc"]).to_html()
    assert "89.8 %" in html and P.NOT_RUN in html and "1,000" in html
    assert "test accuracy" in html and "test acc<" not in html


def test_small_multiples_wrap_into_rows_and_keep_outer_labels():
    fig, axes = P.small_multiples(7, cols=3, size=(3, 3))
    assert len(axes) == 7 and tuple(fig.get_size_inches()) == (9, 9)
    assert sum(ax.axison for ax in fig.axes) == 7  # the last row's two spare cells are off
    for ax in axes:
        ax.set(xlabel="x", ylabel="y")
    P.outer_labels(axes, 3)
    assert [ax.get_ylabel() for ax in axes] == ["y", "", "", "y", "", "", "y"]
    # the x label stays on the lowest panel of each column: 5 and 6 sit above empty cells
    assert [ax.get_xlabel() for ax in axes] == ["", "", "", "", "x", "x", "x"]
    plt.close(fig)
    fig, axes = P.small_multiples(1, cols=4)
    assert len(axes) == 1 and len(fig.axes) == 1
    plt.close(fig)


def _segments(container):
    """The drawn error-bar segments of an ``ax.errorbar`` container, as ((x0, y0), (x1, y1)) rows
    (rounded: the segment is drawn from the interval's midpoint)."""
    (bars,) = container.lines[2]
    return [tuple(tuple(round(float(v), 12) for v in end) for end in s) for s in bars.get_segments()]


def test_error_bars_span_exactly_lo_to_hi_and_skip_missing_rows():
    frame = pd.DataFrame({"value": [0.5, 0.04, float("nan"), 0.9],
                          "lo": [0.4, 0.041, 0.1, 0.85],  # 0.04 below its interval: a biased statistic (ECE)
                          "hi": [0.7, 0.09, 0.2, 0.93]})
    fig, ax = plt.subplots()
    c = P.error_bars(ax, [0, 1, 2, 3], frame["value"], frame["lo"], frame["hi"], label="95 % interval")
    # asymmetric around the value, one segment per row with a value (the NaN row is not drawn)
    assert _segments(c) == [((0, 0.4), (0, 0.7)), ((1, 0.041), (1, 0.09)), ((3, 0.85), (3, 0.93))]
    assert len(c.lines[1]) == 2 and len(c.lines[1][0].get_ydata()) == 3  # caps at both ends
    assert "95 % interval" in ax.get_legend_handles_labels()[1]
    h = P.error_bars(ax, [0, 1], [0.3, 0.6], [0.2, 0.55], [0.35, 0.8], horizontal=True)
    assert _segments(h) == [((0.2, 0), (0.35, 0)), ((0.55, 1), (0.8, 1))]
    assert P.error_bars(ax, [0], [float("nan")], [0.1], [0.2]) is None
    plt.close(fig)


def test_error_bars_dodge_shifts_the_drawing_not_the_interval():
    fig, ax = plt.subplots(dpi=72)
    ax.set(xlim=(-1, 1), ylim=(0, 1))
    plain = P.error_bars(ax, [0], [0.5], [0.4], [0.6])
    moved = P.error_bars(ax, [0], [0.5], [0.4], [0.6], dodge=6)
    assert _segments(plain) == _segments(moved)  # the same interval in data coordinates
    (a,), (b,) = plain.lines[2], moved.lines[2]
    at = [t.transform((0, 0.4)) for t in (a.get_transform(), b.get_transform())]
    assert abs(at[1][0] - at[0][0] - 6) < 1e-6 and abs(at[1][1] - at[0][1]) < 1e-6  # 6 points right, at 72 dpi
    plt.close(fig)
