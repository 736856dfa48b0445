"""Stage ``evasion_defense@<defense>``: an inference-time defense in front of
``evasion.defense_model``, attacked by a naive and by an adaptive PGD (SPEC §2;
Athalye et al. 2018).

* squeezers (bit depth, median, JPEG): naive PGD differentiates through the transform
  (zero or no gradient: the defense masks gradients); adaptive PGD uses BPDA
  (straight-through gradient, the forward value unchanged);
* random resize-and-pad: naive PGD uses one random draw per gradient; adaptive PGD
  averages ``evasion.eot_samples`` draws per step (EOT).

Both are evaluated on the defended model's real forward pass. Writes
``results/evasion/defenses/<defense>.json``.
"""

from __future__ import annotations

import sys
import time

from torch import nn

from advlab.errors import AdvlabError
from advlab.io import write_json
from advlab.stages.common import load_params, resolve_device, stage
from advlab.stages.evasion_common import RESULTS, attack_batched, eval_subset, make_transform, section, trained
from advlab.training.loop import predict_proba


class _NoGradient(nn.Module):
    """What a naive attacker differentiates: the transform as implemented. A detached
    transform (median, JPEG) has no gradient at all; we give it a zero one so that the
    engine's PGD can run (as autograd does for rounding in bit-depth reduction)."""

    def __init__(self, transform: nn.Module):
        super().__init__()
        self.transform = transform

    def forward(self, x):
        y = self.transform(x)
        return y if y.requires_grad or not x.requires_grad else y.detach() + 0.0 * x


@stage
def main(defense: str) -> None:
    p = load_params()
    ev = section(p)
    if defense not in ev.defenses:
        raise AdvlabError(f"evasion_defense: defense {defense!r} does not exist under evasion.defenses "
                          f"(have {', '.join(ev.defenses) or 'none'})")
    d = ev.defenses[defense]
    device = resolve_device(p.device)
    t0 = time.perf_counter()
    _, plan, x, y = eval_subset(min(ev.n_eval, ev.defense_n))
    model = trained(ev.defense_model, plan, device)
    randomized = d.kind == "resize_pad"
    naive_t = make_transform(d.kind, d.options, bpda=False, seed=p.seed)
    naive_t = naive_t if randomized else _NoGradient(naive_t)
    adaptive_t = make_transform(d.kind, d.options, bpda=not randomized, seed=p.seed + 1)
    common = {"eps": ev.defense_eps, "norm": "linf", "steps": ev.defense_steps}
    out = {"defense": defense, "kind": d.kind, "options": d.options, "model": ev.defense_model, "n": len(x),
           "eps": ev.defense_eps, "steps": ev.defense_steps, "gradient_masking": not randomized,
           "adaptive_method": "eot" if randomized else "bpda"}
    out["clean_accuracy_undefended"] = float((predict_proba(model, x, device=device).argmax(1) == y).float().mean())
    out["clean_accuracy_defended"] = float(
        (predict_proba(nn.Sequential(naive_t, model), x, device=device).argmax(1) == y).float().mean())
    runs = {"undefended": (model, {}),
            "naive": (nn.Sequential(naive_t, model), {}),
            "adaptive": (nn.Sequential(adaptive_t, model), {"eot_samples": ev.eot_samples} if randomized else {})}
    for label, (target, extra) in runs.items():
        t1 = time.perf_counter()
        res = attack_batched("pgd", target, x, y, ev.batch_size, device, seed=p.seed, **common, **extra)
        s = res.summary()
        out[label] = {"robust_accuracy": s["robust_accuracy"], "success_rate": s["success_rate"],
                      "clean_accuracy": s["clean_accuracy"], "linf_max": s["linf_max"],
                      "seconds": time.perf_counter() - t1}
        if randomized and label != "undefended":
            # one draw decides the engine's verdict; also report the mean over fresh draws
            accs = [float((predict_proba(target, res.x_adv, device=device).argmax(1) == y).float().mean())
                    for _ in range(ev.eot_samples)]
            out[label]["robust_accuracy_mean_over_draws"] = sum(accs) / len(accs)
    # a randomised defense is judged on the mean over fresh draws (one draw is noisy)
    key = "robust_accuracy_mean_over_draws" if randomized else "robust_accuracy"
    out["gap"] = out["naive"][key] - out["adaptive"][key]
    out["adaptive_beats_naive"] = out["adaptive"][key] < out["naive"][key]
    out["stage_seconds"] = time.perf_counter() - t0
    write_json(RESULTS / "defenses" / f"{defense}.json", out)
    print(f"{defense}: clean {out['clean_accuracy_defended']:.3f}; robust accuracy naive "
          f"{out['naive']['robust_accuracy']:.3f} vs adaptive {out['adaptive']['robust_accuracy']:.3f} "
          f"(undefended {out['undefended']['robust_accuracy']:.3f}); {out['stage_seconds']:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
