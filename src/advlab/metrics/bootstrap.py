"""Seeded percentile bootstrap intervals over evaluation examples (SPEC §1, "intervals").

Every family puts an interval on its headline numbers with :func:`bootstrap`: resample the
evaluation examples with replacement (``n_resamples`` ≥ 100; the study uses 1,000), recompute
the statistic on each resample, and take the ``(1 − confidence)/2`` and ``(1 + confidence)/2``
percentiles. ``strata`` resamples within each group separately (members and non-members for
membership inference), so every resample keeps the group sizes, and TPR at a fixed FPR keeps
its resolution. :func:`verdict` turns an interval into the claims table's wording: a claim
holds only when the whole interval supports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from advlab.errors import check

N_RESAMPLES = 1000
CONFIDENCE = 0.95
MIN_RESAMPLES = 100
INCONCLUSIVE = "inconclusive at this sample size"


@dataclass(frozen=True)
class Interval:
    value: float  # the statistic on the evaluation examples themselves
    lo: float
    hi: float
    confidence: float
    n_resamples: int

    def __str__(self) -> str:
        return f"{self.value:.3g} [{self.lo:.3g}, {self.hi:.3g}]"

    def percent(self, digits: int = 1) -> str:
        """``89.8 % [87.2, 92.4]``."""
        return f"{100 * self.value:.{digits}f} % [{100 * self.lo:.{digits}f}, {100 * self.hi:.{digits}f}]"

    def to_dict(self) -> dict:
        return asdict(self)


def check_settings(n_resamples: int, confidence: float, where: str = "bootstrap") -> None:
    """The one check of the bootstrap's settings (params validation calls it too)."""
    check(isinstance(n_resamples, (int, np.integer)) and n_resamples >= MIN_RESAMPLES,
          f"{where}: n_resamples={n_resamples!r} is too few; use at least {MIN_RESAMPLES} (the study uses {N_RESAMPLES})")
    check(isinstance(confidence, float) and 0.0 < confidence < 1.0,
          f"{where}: confidence={confidence!r} must lie strictly between 0 and 1 (e.g. 0.95)")


def _resample_indices(rng: np.random.Generator, groups: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])


def bootstrap(statistic: Callable[..., float], *arrays, n_resamples: int = N_RESAMPLES,
              confidence: float = CONFIDENCE, seed: int = 0, strata=None) -> Interval:
    """The percentile interval of ``statistic(*arrays)``; the arrays are paired along their first
    axis (one row per evaluation example) and resampled together. Resamples where the statistic
    is undefined (NaN: an AUC of a resample with one class) are left out."""
    (interval,) = bootstrap_many(lambda *a: [statistic(*a)], *arrays, n_resamples=n_resamples,
                                 confidence=confidence, seed=seed, strata=strata)
    return interval


def bootstrap_many(statistics: Callable[..., list[float]], *arrays, n_resamples: int = N_RESAMPLES,
                   confidence: float = CONFIDENCE, seed: int = 0, strata=None) -> list[Interval]:
    """:func:`bootstrap` of several statistics computed together on the same resamples (one ROC
    gives AUC and every TPR@FPR; ECE before and after an attack and their ratio are paired)."""
    arrays, groups = _setup(arrays, strata, n_resamples, confidence)
    return _intervals(lambda idx: statistics(*(a[idx] for a in arrays)), statistics(*arrays), groups,
                      n_resamples, confidence, seed)


def bootstrap_weighted(statistics: Callable[..., list[float]], *arrays, n_resamples: int = N_RESAMPLES,
                       confidence: float = CONFIDENCE, seed: int = 0, strata=None) -> list[Interval]:
    """:func:`bootstrap_many` for statistics of weighted examples: ``statistics(weights, *arrays)``
    gets each example's multiplicity in the resample (``np.bincount`` of the drawn indices; all
    ones for the value itself) and the arrays as they are. The resamples are exactly those of
    :func:`bootstrap_many` with the same seed; a statistic that sorts (an ROC) sorts once instead
    of once per resample (:func:`advlab.metrics.roc.weighted_roc`)."""
    arrays, groups = _setup(arrays, strata, n_resamples, confidence)
    n = len(arrays[0])
    return _intervals(lambda idx: statistics(np.bincount(idx, minlength=n), *arrays),
                      statistics(np.ones(n, dtype=np.int64), *arrays), groups, n_resamples, confidence, seed)


def _setup(arrays, strata, n_resamples: int, confidence: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The checked arrays and the index groups resampled apart (one group without ``strata``)."""
    check_settings(n_resamples, confidence)
    arrays = [np.asarray(a) for a in arrays]
    check(len(arrays) > 0, "bootstrap: give at least one array of per-example values")
    n = len(arrays[0])
    check(n > 0 and all(len(a) == n for a in arrays),
          f"bootstrap: the arrays must be non-empty and of one length (got {[len(a) for a in arrays]})")
    if strata is None:
        return arrays, [np.arange(n)]
    strata = np.asarray(strata)
    check(len(strata) == n, f"bootstrap: strata has {len(strata)} entries for {n} examples")
    return arrays, [np.flatnonzero(strata == s) for s in np.unique(strata)]


def _intervals(on_resample: Callable[[np.ndarray], list[float]], values, groups, n_resamples: int,
               confidence: float, seed: int) -> list[Interval]:
    """Percentile intervals of ``on_resample(indices)`` over ``n_resamples`` seeded draws."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    stats = np.empty((n_resamples, len(values)))
    for b in range(n_resamples):
        stats[b] = on_resample(_resample_indices(rng, groups))
    tail = (1.0 - confidence) / 2
    out = []
    for k, value in enumerate(values):
        column = stats[:, k][np.isfinite(stats[:, k])]
        check(len(column) >= MIN_RESAMPLES // 2,
              f"bootstrap: the statistic was undefined on {n_resamples - len(column)} of {n_resamples} resamples")
        lo, hi = np.quantile(column, [tail, 1.0 - tail])
        out.append(Interval(float(value), float(lo), float(hi), confidence, n_resamples))
    return out


def verdict(interval: Interval, above: float | None = None, below: float | None = None) -> str:
    """``holds`` when the whole interval lies above ``above`` (or below ``below``), ``does not hold``
    when it lies entirely on the other side, else :data:`INCONCLUSIVE`."""
    check((above is None) != (below is None), "verdict: give exactly one of above= or below=")
    if above is not None:
        return "holds" if interval.lo > above else ("does not hold" if interval.hi <= above else INCONCLUSIVE)
    return "holds" if interval.hi < below else ("does not hold" if interval.lo >= below else INCONCLUSIVE)
