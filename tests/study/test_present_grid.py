"""study/present: percentage columns of a table, and the small-multiples grid the models and
calibration reports draw their reliability diagrams in."""

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
