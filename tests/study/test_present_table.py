"""present.table: percentage columns are formatted by present.percent (the parameter named
``percent`` once shadowed the function, and every table with a percent column failed)."""

import math

import pandas as pd

from advlab.study import present as P


def test_percent_columns_show_as_percent_and_nan_as_not_run():
    df = pd.DataFrame({"model": ["cnn", "cnn_pgdat"], "robust_accuracy": [0.898, math.nan], "eps": [0.1, 3.0]})
    html = P.table(df.set_index("model"), percent=["robust_accuracy"]).to_html()
    assert "89.8 %" in html and P.NOT_RUN in html
    assert "robust accuracy" in html and "robust_accuracy" not in html
