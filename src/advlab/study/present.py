"""How the report notebooks show numbers: one place for table formats, colours, legends and
the reliability diagram, so the five reports look alike and a fix lands everywhere.

Tables: :func:`table` renames snake_case result columns to headers with units
(:data:`HEADERS`), shows fractions as percentages, other floats with 3 significant
digits, counts with thousands separators, and a missing value as "not run"; it never
truncates (a long table belongs in its CSV, with a pointer: :func:`csv_pointer`).
Figures: :func:`palette` gives distinct colours for any number of series,
:func:`legend_below` puts one legend under the axes where it covers nothing,
:func:`error_bars` draws the bootstrap intervals of bars and points (``value``, ``lo``, ``hi``
columns of :mod:`advlab.study.claims`' interval tables), and :func:`save` writes a PNG no wider
than a page at 1280 px.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pandas as pd

NOT_RUN = "not run"
PAGE_PX = 1280  # the width a reader's browser gives a report
DPI = 100

# Result columns -> headers a reader understands (units in brackets). A column not listed
# here is shown with its underscores turned into spaces.
HEADERS = {
    "clean_accuracy": "clean accuracy", "robust_accuracy": "robust accuracy", "accuracy": "accuracy",
    "success_rate": "attack success", "certified_accuracy": "certified accuracy",
    "linf_mean": "mean L∞ perturbation", "l2_mean": "mean L2 perturbation",
    "queries_median_success": "median queries (successful)", "queries_mean": "mean queries",
    "seconds": "time (s)", "samples_per_s": "samples/s", "train_seconds": "training (s)",
    "eps": "ε", "n": "inputs", "norm": "norm", "attack": "attack", "model": "model",
    "auroc": "AUROC", "aurc": "AURC", "e_aurc": "E-AURC", "ece": "ECE", "mce": "MCE", "nll": "NLL",
    "tpr_at_fpr": "TPR at FPR", "rate": "poison rate", "asr": "attack success (backdoor)",
    # the models and calibration reports' tables (their CSV column names)
    "test acc": "test accuracy", "train acc": "training accuracy", "mean conf": "mean confidence",
    "train s": "training (s)", "KS": "KS error", "acc": "accuracy", "acc adv": "accuracy after",
    "changed": "predictions changed", "ECE adv": "ECE after", "MCE adv": "MCE after", "KS adv": "KS error after",
    "conf": "mean confidence", "conf adv": "mean confidence after", "success": "attack success",
    "q mean": "mean queries", "q median": "median queries (successful)", "q total": "total queries",
    "L∞ mean": "mean L∞ perturbation", "L2 mean": "mean L2 perturbation", "samples/CPU-s": "samples per CPU-second",
    "done at clean": "at the goal already (clean)", "q median (needed)": "median queries (needed)",
    "q median (success)": "median queries (successful)", "q median (all)": "median queries (all inputs)",
    "L∞ (changed)": "mean L∞ (changed inputs)", "L2 (changed)": "mean L2 (changed inputs)",
    "changed inputs": "inputs changed", "clean acc": "clean accuracy", "clean conf": "clean mean confidence",
    "worst ECE": "worst ECE after an attack", "mahalanobis": "Mahalanobis", "lid": "LID",
}


def header(column: str) -> str:
    """The reader's name of a result column."""
    return HEADERS.get(column, column.replace("_", " "))


def _fmt_float(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _cell(fmt, missing: str):
    return lambda v: missing if v is None or (isinstance(v, float) and math.isnan(v)) else fmt(v)


def table(df: pd.DataFrame, percent: Iterable[str] = (), formats: dict | None = None,
          caption: str | None = None, missing: str = NOT_RUN):
    """A formatted, untruncated view of ``df`` (a pandas ``Styler``): ``percent`` columns (fractions)
    as ``89.8 %``, other floats with 3 significant digits, integers with separators, NaN as
    ``missing``; headers from :data:`HEADERS`. ``formats`` overrides a column's format
    (a format string or a callable), keyed by the original column name."""
    percent, formats = set(percent), dict(formats or {})
    unknown = (percent | set(formats)) - set(df.columns)
    if unknown:
        raise KeyError(f"table: no column(s) {sorted(unknown)} in {list(df.columns)}")
    shown: dict = {}
    for col in df.columns:
        if col in formats:
            f = formats[col]
            fmt = f.format if isinstance(f, str) else f
        elif col in percent:
            fmt = globals()["percent"]  # the module's percent(): the parameter of that name shadows it
        elif pd.api.types.is_integer_dtype(df[col]):
            fmt = "{:,}".format
        elif pd.api.types.is_float_dtype(df[col]):
            fmt = _fmt_float
        else:
            fmt = str
        shown[col] = _cell(fmt, missing)
    out = df.rename(columns=header)
    out.index = out.index.set_names([header(n) if n else n for n in out.index.names])
    styler = out.style.format({header(c): f for c, f in shown.items()})
    if caption:
        styler = styler.set_caption(caption)
    return styler


def csv_pointer(family: str, filename: str, rows: int, shown: int) -> str:
    """The markdown line under a table that shows only part of ``figures/<family>/<filename>``
    (the link is relative to the report's HTML, whichever folder the notebook ran in)."""
    return f"_Showing {shown} of {rows} rows; every row is in [`{filename}`](figures/{family}/{filename})._"


def percent(value: float, digits: int = 1) -> str:
    """``0.898`` -> ``'89.8 %'``."""
    return f"{100 * value:.{digits}f} %"


def signed(delta: float, unit: str = "points", digits: int = 1) -> str:
    """A difference with its true sign: ``-0.005`` (a fraction) -> ``'−0.5 points'``; ``unit=''`` keeps the value."""
    value = 100 * delta if unit == "points" else delta
    text = f"{abs(value):.{digits}f}"
    sign = "+" if value > 0 and float(text) != 0 else ("−" if value < 0 and float(text) != 0 else "±")
    return f"{sign}{text} {unit}".rstrip()


def palette(names: Sequence[str]) -> dict:
    """A distinct colour per name, stable in the order given: tab10 up to 10, tab20 up to 20,
    then evenly spaced hues."""
    import matplotlib as mpl
    import seaborn as sns

    names = list(names)
    if len(names) <= 10:
        colours = mpl.colormaps["tab10"].colors
    elif len(names) <= 20:
        colours = mpl.colormaps["tab20"].colors
    else:
        colours = sns.color_palette("husl", len(names))
    return {n: colours[i] for i, n in enumerate(names)}


def legend_below(fig, axes=None, ncol: int | None = None, title: str | None = None) -> None:
    """One legend for the whole figure, under the axes (it covers nothing); the handles of
    every axis, each label once."""
    axes = list(fig.axes if axes is None else axes)
    seen: dict = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if not seen:
        return
    ncol = ncol or min(len(seen), 8)
    fig.legend(seen.values(), seen.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol,
               frameon=False, title=title)


def error_bars(ax, positions, value, lo, hi, horizontal: bool = False, colour="black", dodge: float = 0.0,
               label: str | None = None, **style):
    """Error bars from the ``value``, ``lo`` and ``hi`` columns of an interval table: at each
    position a segment from exactly ``lo`` to ``hi`` with caps, asymmetric around ``value`` (drawn
    over the bar or point that shows the value; no marker of its own). Rows with a NaN value or
    bound (a pair not run) are skipped. The segment is drawn from the interval's midpoint, so a
    value outside its own percentile interval (binned ECE's resamples are biased upward) is drawn
    as it is instead of being refused as a negative error. ``horizontal``: positions on the y axis,
    intervals along x (horizontal bars); ``dodge`` shifts the bars along the position axis by that
    many points (several series at one position); ``style`` goes to ``ax.errorbar``. Returns the
    ``ErrorbarContainer``, or None when every row was skipped."""
    import numpy as np
    from matplotlib.transforms import ScaledTranslation

    pos, val, low, high = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (positions, value, lo, hi)))
    keep = ~(np.isnan(pos) | np.isnan(val) | np.isnan(low) | np.isnan(high))
    if not keep.any():
        return None
    pos, low, high = pos[keep], low[keep], high[keep]
    mid, half = (low + high) / 2, (high - low) / 2
    opts = {"fmt": "none", "ecolor": colour, "elinewidth": 1.0, "capsize": 2.5, "capthick": 1.0, "zorder": 3,
            "label": label, **style}
    if dodge:
        shift = (dodge / 72, 0) if not horizontal else (0, dodge / 72)
        opts["transform"] = ax.transData + ScaledTranslation(*shift, ax.figure.dpi_scale_trans)
    if horizontal:
        return ax.errorbar(mid, pos, xerr=half, **opts)
    return ax.errorbar(pos, mid, yerr=half, **opts)


def save(fig, folder, name: str) -> None:
    """Write ``folder/name.png`` at most :data:`PAGE_PX` wide (the legend below included)."""
    width_in = fig.get_size_inches()[0]
    dpi = min(DPI, PAGE_PX / width_in)
    fig.tight_layout()
    fig.savefig(folder / f"{name}.png", dpi=dpi, bbox_inches="tight")


def reliability(ax, bins: pd.DataFrame, title: str, colour=None) -> None:
    """A reliability diagram from a bins table (``lo``, ``hi``, ``accuracy``, ``confidence``,
    ``count``): accuracy per confidence bin as bars, the gap to the bin's mean confidence as
    a hatched outline (red: overconfident, the bar falls short; orange: underconfident), the
    share of inputs per bin as a step line, and the diagonal of perfect calibration."""
    centers, width = (bins["lo"] + bins["hi"]) / 2, bins["hi"] - bins["lo"]
    acc, conf = bins["accuracy"].fillna(0), bins["confidence"].fillna(0)
    filled = bins["count"] > 0
    ax.bar(centers[filled], acc[filled], width=width[filled], color=colour or "tab:blue", edgecolor="white",
           label="accuracy in bin")
    over = filled & (conf > acc)
    under = filled & (conf < acc)
    ax.bar(centers[over], (conf - acc)[over], bottom=acc[over], width=width[over], fill=False,
           edgecolor="tab:red", hatch="///", linewidth=0.8, label="gap: overconfident")
    ax.bar(centers[under], (acc - conf)[under], bottom=conf[under], width=width[under], fill=False,
           edgecolor="tab:orange", hatch="\\\\\\", linewidth=0.8, label="gap: underconfident")
    share = bins["count"] / max(bins["count"].sum(), 1)
    ax.step(list(bins["lo"]) + [bins["hi"].iloc[-1]], list(share) + [share.iloc[-1]], where="post",
            color="black", linewidth=1, label="share of inputs")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (max softmax)", ylabel="accuracy / share", title=title)


def mark_not_run(ax, positions: Iterable[float], y: float = 0.02, horizontal: bool = False) -> None:
    """Write "not run" at bar positions whose pair of (model, attack) has no result, so it does not
    read as a value of 0."""
    for pos in positions:
        if horizontal:
            ax.text(y, pos, NOT_RUN, va="center", ha="left", fontsize=8, color="dimgrey", style="italic")
        else:
            ax.text(pos, y, NOT_RUN, ha="center", va="bottom", fontsize=8, color="dimgrey", style="italic",
                    rotation=90)


def small_multiples(n: int, cols: int = 4, size: tuple[float, float] = (3.2, 3.2), **kwargs):
    """A figure of ``n`` panels that wraps into rows of at most ``cols`` (many models grow the figure
    down, not wider), the unused cells of the last row switched off. Returns ``(fig, axes)``, the
    ``n`` axes in reading order; ``size`` is one panel in inches, ``kwargs`` go to ``plt.subplots``."""
    import matplotlib.pyplot as plt

    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False, **kwargs)
    for ax in grid.flat[n:]:
        ax.axis("off")
    return fig, list(grid.flat[:n])


def outer_labels(axes: Sequence, cols: int) -> None:
    """In a grid of panels (reading order, ``cols`` per row), keep the y-axis label on the first
    column and the x-axis label on the lowest panel of each column only."""
    for i, ax in enumerate(axes):
        if i % cols:
            ax.set_ylabel("")
        if i + cols < len(axes):
            ax.set_xlabel("")


# Headers of the uncertainty report's columns (ACE: uncertainty AUROC, AURC, selective risk, speed).
HEADERS.update({
    "estimator": "estimator", "mode": "attack mode", "auroc_drop": "AUROC drop", "aurc_ratio": "AURC ×",
    "min_auroc": "lowest AUROC", "eps_at_min_auroc": "at ε", "max_auroc_drop": "largest AUROC drop",
    "max_aurc_ratio": "largest AURC ×", "target_queries_mean": "mean label queries",
    "risk@0.5": "risk at 50 % coverage", "risk@0.8": "risk at 80 % coverage",
    "risk@0.9": "risk at 90 % coverage", "risk@1": "risk at 100 % coverage",
    "inference": "inference (samples/s)", "attack_white": "white-box (samples/s)",
    "attack_black": "black-box (samples/s)", "attack_iterative": "iterative (samples/s)",
    "threads": "CPU threads", "stage seconds": "stage time (s)",
})
