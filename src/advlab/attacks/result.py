"""The one result type every attack returns (DESIGN.md "The attack engine").

``AttackResult.summary()`` gives the robustness metrics of SPEC §1: clean accuracy,
robust accuracy, attack success rate, L∞/L2 norms of the perturbations, and queries
per sample (mean and median over successful samples, total over all samples), plus
mean confidence and ECE before and after, which the calibration attacks (SPEC §3)
are judged by.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from advlab.metrics import calibration


_PER_SAMPLE = ("x_adv", "success", "queries", "linf", "l2", "y", "clean_pred", "adv_pred", "probs_clean", "probs_adv")


@dataclass
class AttackResult:
    """Adversarial inputs and per-sample bookkeeping of one attack run.

    Attributes (all per sample, on the CPU, detached):
        x_adv: adversarial inputs, same shape as the clean batch, in ``[0, 1]``.
        success: bool; what "success" means is the objective's (misclassified for
            the standard attacks, threshold reached for calibration attacks, score
            moved the attacker's way for ACE).
        queries: int64; forward passes of the *target* model spent on this sample
            (white-box passes are counted too; for transfer only target queries).
        linf, l2: norms of ``x_adv − x`` per sample.
        y: true labels; clean_pred / adv_pred: predictions before and after.
        probs_clean / probs_adv: class probabilities before and after, (B, K).
        attack / objective: names, for reports.
        extras: further per-sample tensors a search reports (batch first), e.g.
            AutoAttack's ``component`` (which component broke each sample).
    """

    x_adv: torch.Tensor
    success: torch.Tensor
    queries: torch.Tensor
    linf: torch.Tensor
    l2: torch.Tensor
    y: torch.Tensor
    clean_pred: torch.Tensor
    adv_pred: torch.Tensor
    probs_clean: torch.Tensor
    probs_adv: torch.Tensor
    attack: str = ""
    objective: str = ""
    params: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)

    @classmethod
    def build(cls, x, x_adv, success, queries, y, logp_clean, logp_adv, extras=None, **meta) -> "AttackResult":
        """Compute the norms and predictions once, so every search reports them alike."""
        delta = (x_adv - x).detach().flatten(1)
        return cls(
            x_adv=x_adv.detach().cpu(),
            success=success.detach().bool().cpu(),
            queries=queries.detach().long().cpu(),
            linf=delta.abs().amax(1).cpu(),
            l2=delta.norm(dim=1).cpu(),
            y=y.detach().long().cpu(),
            clean_pred=logp_clean.argmax(1).cpu(),
            adv_pred=logp_adv.argmax(1).cpu(),
            probs_clean=logp_clean.detach().exp().cpu(),
            probs_adv=logp_adv.detach().exp().cpu(),
            extras={k: v.detach().cpu() for k, v in (extras or {}).items()},
            **meta,
        )

    @classmethod
    def concat(cls, results: list["AttackResult"]) -> "AttackResult":
        """One result from per-batch results of the same attack with the same parameters."""
        first = results[0]
        if len(results) == 1:
            return first
        cat = {f: torch.cat([getattr(r, f) for r in results]) for f in _PER_SAMPLE}
        extras = {k: torch.cat([r.extras[k] for r in results]) for k in first.extras}
        return cls(**cat, attack=first.attack, objective=first.objective, params=first.params, extras=extras)

    def __len__(self) -> int:
        return len(self.y)

    def summary(self) -> dict[str, float]:
        """Robustness metrics of SPEC §1 plus calibration before/after, as plain floats."""
        ok = self.success
        q = self.queries.double()
        q_ok = q[ok]
        clean_correct = self.clean_pred == self.y
        out = {
            "n": float(len(self)),
            "clean_accuracy": clean_correct.double().mean().item(),
            "robust_accuracy": (self.adv_pred == self.y).double().mean().item(),
            "success_rate": ok.double().mean().item(),
            # the usual "attack success rate" of evasion papers: over inputs that were right
            "success_rate_on_correct": ok[clean_correct].double().mean().item() if clean_correct.any() else float("nan"),
            "prediction_changed_rate": (self.adv_pred != self.clean_pred).double().mean().item(),
            "linf_mean": self.linf.double().mean().item(),
            "linf_max": self.linf.double().max().item(),
            "l2_mean": self.l2.double().mean().item(),
            "l2_max": self.l2.double().max().item(),
            "queries_mean_success": q_ok.mean().item() if len(q_ok) else float("nan"),
            "queries_median_success": q_ok.median().item() if len(q_ok) else float("nan"),
            "queries_total": q.sum().item(),
            "mean_confidence_clean": self.probs_clean.amax(1).double().mean().item(),
            "mean_confidence_adv": self.probs_adv.amax(1).double().mean().item(),
            "ece_clean": calibration.ece(self.probs_clean, self.y),
            "ece_adv": calibration.ece(self.probs_adv, self.y),
        }
        return out
