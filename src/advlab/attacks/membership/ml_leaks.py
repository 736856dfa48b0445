"""ML-Leaks adversary 1 (Salem et al., NDSS 2019, "ML-Leaks: Model and Data Independent
Membership Inference Attacks and Defenses on Machine Learning Models", §III)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import softmax

from advlab.errors import check

from ._common import members_for, one_model
from .registry import register


def top_posteriors(logits, top: int = 3) -> np.ndarray:
    """The ``top`` largest softmax posteriors in descending order, ``(N, Q, top)``."""
    z = one_model(logits, "logits")
    check(1 <= top <= z.shape[-1], f"top must be in [1, K={z.shape[-1]}]; got {top}")
    p = softmax(z, axis=-1)
    return -np.sort(-p, axis=-1)[..., :top]


def ml_leaks_attack(shadow_logits, shadow_members, target_logits, *, classifier: str = "mlp",
                    top: int = 3, query: int = 0, seed: int = 0, max_iter: int = 500) -> np.ndarray:
    """Salem et al. 2019, adversary 1: a classifier on the top-3 sorted posteriors.

    Trained on ONE shadow model's posteriors of its members (1) and non-members (0),
    applied to the target model's posteriors. ``classifier`` is ``"mlp"`` (one hidden
    layer of 64 units, as in the paper) or ``"logreg"``. Score = the predicted
    log-odds of membership (monotone in P(member), finer-grained at low FPR).
    """
    # scikit-learn is imported here, where it is used: it costs seconds of start-up, and the
    # membership package is also imported by stages that run no attack (mia_signals)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    check(classifier in ("mlp", "logreg"), f"classifier must be 'mlp' or 'logreg'; got {classifier!r}")
    zs = one_model(shadow_logits, "shadow_logits")
    zt = one_model(target_logits, "target_logits")
    check(zs.shape[-1] == zt.shape[-1], f"shadow and target must have the same K; got {zs.shape[-1]} vs {zt.shape[-1]}")
    members = members_for(shadow_members, zs.shape[0], "shadow_members")
    q = zs.shape[1]
    check(isinstance(query, (int, np.integer)) and 0 <= query < min(q, zt.shape[1]),
          f"query must be an int in [0, {min(q, zt.shape[1])}); got {query!r}")
    xs = top_posteriors(zs[:, query], top)[:, 0]
    xt = top_posteriors(zt[:, query], top)[:, 0]
    if classifier == "mlp":
        clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=max_iter, random_state=seed)
    else:
        clf = LogisticRegression(max_iter=max_iter)
    with warnings.catch_warnings():
        # the MLP on 3 features often stops at max_iter; its scores are what the paper's attack gives
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        clf.fit(xs, members.astype(int))
    lp = clf.predict_log_proba(xt)
    return lp[:, 1] - lp[:, 0]


def _run(inp) -> np.ndarray:
    sh = inp.shadows
    return ml_leaks_attack(sh.logits[0], sh.keep[0], inp.target_logits, seed=inp.seed,
                           classifier=inp.settings.ml_leaks_classifier)


register("ml_leaks", _run, signals=("target", "shadows"), models={"shadows": 1}, order=20)
