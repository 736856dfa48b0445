"""Likelihood Ratio Attack (Carlini et al., IEEE S&P 2022, "Membership Inference Attacks
From First Principles", Algorithm 1 and §VI-A/§VI-B).

Follows the reference ``score.py`` (``generate_ours`` / ``generate_ours_offline``):
per-example Gaussians of φ over the shadow models, median for the mean and the
standard deviation for the spread, per query, and the per-query scores averaged.
Departures (written down as SPEC §5 asks):

* every IN/OUT shadow value of an example is used (the reference truncates all
  examples to the smallest IN/OUT count);
* offline is the paper's one-sided test ``1 − Pr[Z > φ]``, ``Z ~ N(μ_out, σ_out²)``,
  scored as ``−log Pr[Z > φ]`` (same order, no saturation at 1); the reference code
  scores the two-sided ``logpdf`` instead;
* the reference's ``+1e-30`` on σ is replaced by an error: per-example variance
  needs ≥ 2 IN and ≥ 2 OUT models per example, else use ``fix_variance=True``.

The shadow keep matrix should be balanced among the shadows themselves and independent
of the target's membership. Holding one model out of a single exactly-half keep matrix
as the target makes the shadows' IN/OUT counts depend on the target's membership; with
few shadows the medians' unequal sampling noise then biases the online score (we
measured AUC ≈ 0.42 on exchangeable synthetic data with 8 shadows).
"""

from __future__ import annotations

import numpy as np

from advlab.errors import check

from ._common import labels_for, lira_phi, many_models, one_model
from .registry import register

MODES = ("online", "offline")


def lira_attack(target_logits, shadow_logits, shadow_keep, labels, *, mode: str = "online",
                fix_variance: bool = False) -> np.ndarray:
    """LiRA membership score per target-pool example; higher = more likely a member.

    ``target_logits``: ``(N, Q, K)``; ``shadow_logits``: ``(S, N, Q, K)`` of shadow
    models on the same pool and queries (the target excluded); ``shadow_keep``: ``(S, N)``
    bool, True where the example was in that shadow model's training set.

    * online: ``Λ = mean_q [log N(φ_q; μ_in, σ_in²) − log N(φ_q; μ_out, σ_out²)]``
      (Algorithm 1); needs ≥ 1 IN and ≥ 1 OUT model per example (≥ 2 of each
      unless ``fix_variance``).
    * offline: ``Λ = −mean_q log Pr[Z_q > φ_q]``, ``Z_q ~ N(μ_out, σ_out²)``; needs
      ≥ 1 OUT model per example (≥ 2 unless ``fix_variance``).
    * ``fix_variance``: one global σ (reference code: the std of all IN values,
      online, or all OUT values, offline) instead of per-example σ.
    """
    from scipy.stats import norm  # here, where it is used: scipy.stats costs seconds of start-up

    check(mode in MODES, f"mode must be one of {MODES}; got {mode!r}")
    z = one_model(target_logits, "target_logits")
    s = many_models(shadow_logits, "shadow_logits")
    check(s.shape[1:] == z.shape,
          f"shadow_logits must be (S, N, Q, K) = (S, {', '.join(map(str, z.shape))}); got {s.shape}")
    keep = np.asarray(shadow_keep)
    check(keep.shape == s.shape[:2] and keep.dtype == np.bool_,
          f"shadow_keep must be a bool array of shape {s.shape[:2]}; got {keep.dtype} {keep.shape}")
    y = labels_for(labels, z)

    phi_t = lira_phi(z, y)  # (N, Q)
    phi_s = lira_phi(s, y)  # (S, N, Q)
    n_in, n_out = keep.sum(0), (~keep).sum(0)
    need = 1 if fix_variance else 2
    hint = "" if fix_variance else " (or set fix_variance=True, which needs only 1)"
    check(n_out.min() >= need,
          f"LiRA {mode} needs >= {need} OUT shadow models per example{hint}; the shadow keep matrix of "
          f"{s.shape[0]} models leaves example {int(n_out.argmin())} with {int(n_out.min())}: train more shadow models")
    out_vals = np.where(~keep[:, :, None], phi_s, np.nan)
    mu_out = np.nanmedian(out_vals, axis=0)  # (N, Q)
    sd_out = np.nanstd(out_vals, axis=0) if not fix_variance else np.nanstd(out_vals)

    if mode == "offline":
        sd_out = _positive(sd_out)
        return -norm.logsf(phi_t, loc=mu_out, scale=sd_out).mean(-1)

    check(n_in.min() >= need,
          f"LiRA online needs >= {need} IN shadow models per example{hint}; the shadow keep matrix of "
          f"{s.shape[0]} models leaves example {int(n_in.argmin())} with {int(n_in.min())}: train more shadow "
          f"models or use mode='offline'")
    in_vals = np.where(keep[:, :, None], phi_s, np.nan)
    mu_in = np.nanmedian(in_vals, axis=0)
    if fix_variance:
        # reference score.py uses np.std(dat_in) for both Gaussians
        sd_in = sd_out = np.nanstd(in_vals)
    else:
        sd_in = np.nanstd(in_vals, axis=0)
    sd_in, sd_out = _positive(sd_in), _positive(sd_out)
    llr = norm.logpdf(phi_t, mu_in, sd_in) - norm.logpdf(phi_t, mu_out, sd_out)
    return llr.mean(-1)


def _positive(sd):
    # identical shadow outputs give σ = 0; a tiny floor keeps the ratio finite
    # (order is still decided by the distance to the mean)
    return np.maximum(sd, 1e-12)


def _run(inp, *, mode: str, fix_variance: bool, identity_only: bool) -> np.ndarray:
    q = slice(0, 1) if identity_only else slice(None)
    sh = inp.shadows
    return lira_attack(inp.target_logits[:, q], sh.logits[:, :, q], sh.keep, inp.labels, mode=mode,
                       fix_variance=fix_variance)


# (name, mode, one global sigma, queries); per-example sigma needs >= 2 IN and 2 OUT models per example
for _order, (_name, _mode, _fixed, _queries) in enumerate([
        ("lira_online", "online", False, "all"), ("lira_offline", "offline", False, "all"),
        ("lira_online_fixed", "online", True, "all"), ("lira_offline_fixed", "offline", True, "all"),
        ("lira_online_1query", "online", False, "identity")]):
    register(_name, _run, signals=("target", "shadows"), models={"shadows": None},
             minimum={"shadows": 2 if _fixed else 4}, queries=_queries, order=40 + _order,
             mode=_mode, fix_variance=_fixed, identity_only=_queries == "identity")
