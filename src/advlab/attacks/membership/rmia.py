"""Robust Membership Inference Attack (Zarifzadeh et al., ICML 2024, "Low-Cost
High-Power Membership Inference Attacks", §3: the pairwise likelihood ratio LR_θ(x, z),
Score_MIA(x; θ) and the offline approximation of p(x))."""

from __future__ import annotations

import numpy as np

from advlab.errors import check

from ._common import labels_for, many_models, one_model, true_prob
from .registry import register

MODES = ("online", "offline")


def rmia_attack(target_logits, labels, reference_logits, population_target_logits, population_labels,
                population_reference_logits, *, mode: str = "offline", reference_keep=None,
                num_reference: int | None = None, a: float = 0.3, gamma: float = 1.0,
                query: int | None = 0) -> np.ndarray:
    """RMIA score ``Pr_z[(p(x|θ)/p(x)) / (p(z|θ)/p(z)) ≥ γ]`` over population points z.

    ``p(·|θ)`` is the target model's softmax probability of the true label; ``p(·)`` the
    mean over reference models. Shapes: target ``(N, Q, K)``, references ``(R, N, Q, K)``;
    population the same with ``Z`` points (population points are members of neither
    the target nor any reference model).

    * offline: reference models are OUT for every x; ``p(x) = ½[(1+a)·p_OUT(x) + (1−a)]``,
      applied to x and z alike (as ML Privacy Meter does). ``a`` in [0, 1].
    * online: ``reference_keep`` ``(R, N)`` says which references trained on x; ``p(x)``
      is the mean over IN and OUT references, and every x needs ≥ 1 of each.

    ``num_reference``: use the first this many references (default: all); asking for
    more than given is an error. ``query``: one query index, or None to average the
    score over queries. Comparisons use ``≥ γ`` as in the paper's definition of Score_MIA.
    """
    check(mode in MODES, f"mode must be one of {MODES}; got {mode!r}")
    check(0.0 <= a <= 1.0, f"a must be in [0, 1]; got {a}")
    check(gamma > 0, f"gamma must be > 0; got {gamma}")
    zt = one_model(target_logits, "target_logits")
    zr = many_models(reference_logits, "reference_logits")
    pt = one_model(population_target_logits, "population_target_logits")
    pr = many_models(population_reference_logits, "population_reference_logits")
    y, yz = labels_for(labels, zt), labels_for(population_labels, pt, "population_labels")
    given = zr.shape[0]
    check(pr.shape[0] == given, f"reference_logits has {given} models but population_reference_logits has {pr.shape[0]}")
    need_min = 2 if mode == "online" else 1
    n_ref = given if num_reference is None else num_reference
    check(isinstance(n_ref, (int, np.integer)) and n_ref >= need_min,
          f"num_reference must be an int >= {need_min} for RMIA {mode}; got {num_reference!r}")
    check(n_ref <= given,
          f"RMIA {mode} asks for num_reference={n_ref} reference models but only {given} were given; "
          f"train more reference models or lower num_reference")
    check(zr.shape[1:] == zt.shape, f"reference_logits must be (R, {', '.join(map(str, zt.shape))}); got {zr.shape}")
    check(pr.shape[1:] == pt.shape,
          f"population_reference_logits must be (R, {', '.join(map(str, pt.shape))}); got {pr.shape}")
    check(pt.shape[1:] == zt.shape[1:], f"population and target logits differ in (Q, K): {pt.shape[1:]} vs {zt.shape[1:]}")
    check(pt.shape[0] >= 1, "population must hold at least one point")
    zr, pr = zr[:n_ref], pr[:n_ref]

    px_theta, pz_theta = true_prob(zt, y), true_prob(pt, yz)  # (N, Q), (Z, Q)
    px_ref, pz_ref = true_prob(zr, y), true_prob(pr, yz)  # (R, N, Q), (R, Z, Q)
    if mode == "offline":
        px = 0.5 * ((1 + a) * px_ref.mean(0) + (1 - a))
        pz = 0.5 * ((1 + a) * pz_ref.mean(0) + (1 - a))
    else:
        check(reference_keep is not None, "RMIA online needs reference_keep (R, N): which references trained on x")
        keep = np.asarray(reference_keep)
        check(keep.shape == (given, zt.shape[0]) and keep.dtype == np.bool_,
              f"reference_keep must be a bool array of shape ({given}, {zt.shape[0]}); got {keep.dtype} {keep.shape}")
        keep = keep[:n_ref]
        n_in = keep.sum(0)
        check(n_in.min() >= 1 and (n_ref - n_in).min() >= 1,
              f"RMIA online needs >= 1 IN and >= 1 OUT reference model per example; with {n_ref} references, "
              f"example {int(np.argmin(np.minimum(n_in, n_ref - n_in)))} has {int(n_in.min())} IN / "
              f"{int((n_ref - n_in).min())} OUT at worst: give more reference models")
        px = px_ref.mean(0)
        pz = pz_ref.mean(0)
    ratio_x = px_theta / np.maximum(px, 1e-300)
    ratio_z = pz_theta / np.maximum(pz, 1e-300)
    scores = np.empty_like(ratio_x)
    for q in range(ratio_x.shape[1]):
        # ratio_x/ratio_z ≥ γ  ⇔  ratio_z ≤ ratio_x/γ  (all ratios > 0)
        rz = np.sort(ratio_z[:, q])
        scores[:, q] = np.searchsorted(rz, ratio_x[:, q] / gamma, side="right") / rz.size
    if query is None:
        return scores.mean(-1)
    check(isinstance(query, (int, np.integer)) and 0 <= query < scores.shape[1],
          f"query must be an int in [0, {scores.shape[1]}) or None; got {query!r}")
    return scores[:, query]


def _offline(inp, *, num_reference: int) -> np.ndarray:
    a, tp = inp.settings, inp.target_population
    return rmia_attack(inp.target_logits, inp.labels, inp.references.logits, tp.logits[0], tp.labels,
                       inp.reference_population.logits, mode="offline", num_reference=num_reference, a=a.rmia_a,
                       gamma=a.rmia_gamma, query=None)


def _online(inp) -> np.ndarray:
    tp = inp.target_population
    return rmia_attack(inp.target_logits, inp.labels, inp.shadows.logits, tp.logits[0], tp.labels,
                       inp.shadow_population.logits, mode="online", reference_keep=inp.shadows.keep,
                       gamma=inp.settings.rmia_gamma, query=None)


# offline: once per count of reference models in membership.attack.rmia_references
register("rmia_offline", _offline, signals=("target", "references", "population"),
         models={"references": "num_reference"}, queries="all", order=60,
         variants=lambda a: [(f"rmia_offline_r{n}", {"num_reference": n}) for n in a.rmia_references])
# online: the K shadows as IN/OUT reference models
register("rmia_online", _online, signals=("target", "shadows", "population"), models={"shadows": None},
         minimum={"shadows": 2}, queries="all", order=70)
