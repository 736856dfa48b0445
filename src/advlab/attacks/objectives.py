"""Objectives: what an attack maximises, and when a sample is done (DESIGN.md engine).

Every objective works on log-probabilities ``logp`` (B, K) (the engine applies
``log_softmax`` to whatever the model returns, so plain models and estimators are
interchangeable) and, for ACE, on an optional uncertainty score ``kappa`` (B,).
It returns per-sample values, larger = better for the attacker, so one search
(PGD, Square, ...) can drive any objective.

``prepare`` fixes the per-sample state from the *clean* batch once: ``yhat`` (the
clean prediction, the reference of every calibration/ACE objective, never the true
label), the true ``y``, and objective-specific targets. All state values are
tensors with the batch as first dimension, so a search can take the active subset
with ``{k: v[idx]}``.

Calibration objectives follow Obadinma et al., "Calibration Attack" (arXiv
2401.02718), as specified in SPEC §3; the ACE direction follows Galil & El-Yaniv,
"Disrupting Deep Uncertainty Estimation Without Harming Accuracy" (NeurIPS 2021),
SPEC §4.
"""

from __future__ import annotations

import inspect

import torch

from advlab.errors import check
from advlab.registry import Registry

State = dict[str, torch.Tensor]

#: every objective by name; metadata ``family`` ("misclassify", "calibration" or "ace")
#: and ``order`` (registration order: the order of the engine's allowed lists)
OBJECTIVES = Registry("objective")
FAMILIES = ("misclassify", "calibration", "ace")


def register(family: str, **meta):
    """Class decorator: register an :class:`Objective` subclass under its ``name`` (``meta``:
    e.g. ``short``, the prefix of a calibration objective's result keys)."""
    check(family in FAMILIES, f"objective family {family!r} is unknown; allowed: {list(FAMILIES)}")

    def add(cls):
        OBJECTIVES.register(cls.name, cls, family=family, order=len(OBJECTIVES), **meta)
        return cls

    return add


def objective_names(family: str | None = None) -> tuple[str, ...]:
    """Registered objective names in registration order, optionally of one family."""
    names = sorted(OBJECTIVES.names(), key=lambda n: OBJECTIVES.meta(n)["order"])
    return tuple(n for n in names if family is None or OBJECTIVES.meta(n)["family"] == family)


def objective_params() -> set[str]:
    """Every threshold an objective takes (the keyword arguments of the constructors)."""
    return {k for _, cls in OBJECTIVES.items() for k in inspect.signature(cls.__init__).parameters
            if k != "self" and k not in ("args", "kwargs")}


def pick(logp: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """``logp[i, cls[i]]`` for every row."""
    return logp.gather(1, cls[:, None]).squeeze(1)


def best_other(logp: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """``max_{k≠cls} logp[i, k]`` for every row."""
    return logp.scatter(1, cls[:, None], float("-inf")).amax(1)


def prob_margin(logp: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """``p_cls − max_{k≠cls} p_k`` (SPEC §3 underconfidence margin)."""
    return pick(logp, cls).exp() - best_other(logp, cls).exp()


class Objective:
    """Base class: subclasses set ``name`` and implement ``score`` and ``done``.

    ``label_preserving`` objectives must never change a prediction: every search
    then accepts a candidate only if ``argmax f(x') == ŷ(x)`` (SPEC §3, §4).
    """

    name = "objective"
    label_preserving = False
    needs_kappa = False
    #: a targeted surrogate loss: its state holds ``target`` and the clean ranking ``ranked``
    targeted = False

    def prepare(self, logp: torch.Tensor, y: torch.Tensor, kappa=None, generator=None) -> State:
        return {"y": y, "yhat": logp.argmax(1)}

    def validate(self, n_classes: int) -> None:
        """Checks that need the number of classes K (known after the clean query)."""

    def score(self, logp: torch.Tensor, kappa, s: State) -> torch.Tensor:
        raise NotImplementedError

    def done(self, logp: torch.Tensor, kappa, s: State) -> torch.Tensor:
        """Per-sample early-stop test."""
        return torch.zeros(len(logp), dtype=torch.bool, device=logp.device)

    def success(self, logp: torch.Tensor, kappa, s: State) -> torch.Tensor:
        """What the result reports as success; the stop test unless overridden."""
        return self.done(logp, kappa, s)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


@register("misclassify")
class MisclassifyCE(Objective):
    """Untargeted cross-entropy ``CE(f(x'), y)`` (FGSM, Madry et al. PGD)."""

    name = "ce"

    def score(self, logp, kappa, s):
        return -pick(logp, s["y"])

    def done(self, logp, kappa, s):
        return logp.argmax(1) != s["y"]


@register("misclassify")
class MisclassifyMargin(MisclassifyCE):
    """Untargeted margin ``max_{k≠y} z_k − z_y`` (Carlini–Wagner f6, Square Attack).

    On log-probabilities the margin equals the logit margin (the log-sum-exp shift
    cancels), so it is computed from ``logp`` directly.
    """

    name = "margin"

    def score(self, logp, kappa, s):
        return best_other(logp, s["y"]) - pick(logp, s["y"])


def _top(logp: torch.Tensor, n: int) -> torch.Tensor:
    """The ``n`` largest values of every row, in descending order ``z_π1 ≥ z_π2 ≥ ...``."""
    return logp.topk(n, dim=1).values


@register("misclassify")
class MisclassifyDLR(MisclassifyCE):
    """Untargeted Difference of Logits Ratio (Croce & Hein 2020, eq. 6):
    ``DLR = −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 1e-12)``.

    Shift- and scale-invariant in the logits, so computing it on log-probabilities
    (logits minus a per-row constant) gives the logit value. Needs K ≥ 3 classes.
    """

    name = "dlr"

    def validate(self, n_classes):
        check(n_classes >= 3, f"objective='dlr' needs K ≥ 3 classes, the model has K={n_classes}")

    def score(self, logp, kappa, s):
        top = _top(logp, 3)
        return -(pick(logp, s["y"]) - best_other(logp, s["y"])) / (top[:, 0] - top[:, 2] + 1e-12)


@register("misclassify")
class MisclassifyDLRTargeted(MisclassifyCE):
    """Targeted DLR of APGD-T (Croce & Hein 2020, eq. 7):
    ``DLR_t = −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12)``.

    A surrogate loss for misclassification: success is still ``argmax ≠ y`` (as in
    AutoAttack). ``prepare`` ranks the classes by the clean output (``ranked``, (B, K),
    descending) and targets the runner-up (``target = ranked[:, 1]``); APGD-T replaces
    ``target`` by ``ranked[:, r]`` for the ranks ``r = 1 … n_target_classes``. Needs K ≥ 4.
    """

    name = "dlr_targeted"
    targeted = True

    def validate(self, n_classes):
        check(n_classes >= 4, f"objective='dlr_targeted' needs K ≥ 4 classes, the model has K={n_classes}")

    def prepare(self, logp, y, kappa=None, generator=None):
        s = super().prepare(logp, y)
        s["ranked"] = logp.argsort(1, descending=True)
        s["target"] = s["ranked"][:, 1]
        return s

    def score(self, logp, kappa, s):
        top = _top(logp, 4)
        return -(pick(logp, s["y"]) - pick(logp, s["target"])) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def _check_threshold(name: str, value: float) -> float:
    check(isinstance(value, (int, float)) and 0.0 < value < 1.0,
          f"{name}={value!r} is not allowed: it must be a number strictly between 0 and 1")
    return float(value)


@register("calibration", short="under")
class Underconfidence(Objective):
    """Minimise ``m = p_ŷ − max_{k≠ŷ} p_k``; done when ``m ≤ tau_u`` (SPEC §3).

    ``tau_u`` defaults to 0.01 (our choice; the seed gives no number): a sample is
    done when its top two classes are within one point of probability.
    """

    name = "underconfidence"
    label_preserving = True

    def __init__(self, tau_u: float = 0.01):
        self.tau_u = _check_threshold("tau_u", tau_u)

    def score(self, logp, kappa, s):
        return -prob_margin(logp, s["yhat"])

    def done(self, logp, kappa, s):
        return prob_margin(logp, s["yhat"]) <= self.tau_u


@register("calibration", short="over")
class Overconfidence(Objective):
    """Maximise ``p_ŷ``; done when ``c ≥ tau_o`` (default 0.99, SPEC §3).

    The score is ``log p_ŷ``: the same ranking as ``p_ŷ`` (so Square accepts the same
    candidates) but its gradient does not vanish as ``p_ŷ → 1``.
    """

    name = "overconfidence"
    label_preserving = True

    def __init__(self, tau_o: float = 0.99):
        self.tau_o = _check_threshold("tau_o", tau_o)

    def validate(self, n_classes):
        check(self.tau_o > 1.0 / n_classes,
              f"tau_o={self.tau_o} is not allowed: a target confidence must exceed 1/K = {1.0 / n_classes:.4g}")

    def score(self, logp, kappa, s):
        return pick(logp, s["yhat"])

    def done(self, logp, kappa, s):
        return pick(logp, s["yhat"]).exp() >= self.tau_o


@register("calibration", short="maxmis")
class MaxMiscalibration(Objective):
    """Underconfidence where ``ŷ = y``, overconfidence where ``ŷ ≠ y`` (SPEC §3).

    Uses the true labels; its ECE ceiling is about ``q·(1−1/K) + (1−q)`` for accuracy ``q``.
    """

    name = "max_miscalibration"
    label_preserving = True

    def __init__(self, tau_u: float = 0.01, tau_o: float = 0.99):
        self.under, self.over = Underconfidence(tau_u), Overconfidence(tau_o)

    def validate(self, n_classes):
        self.over.validate(n_classes)

    def prepare(self, logp, y, kappa=None, generator=None):
        s = super().prepare(logp, y)
        s["right"] = s["yhat"] == y
        return s

    def score(self, logp, kappa, s):
        return torch.where(s["right"], self.under.score(logp, kappa, s), self.over.score(logp, kappa, s))

    def done(self, logp, kappa, s):
        return torch.where(s["right"], self.under.done(logp, kappa, s), self.over.done(logp, kappa, s))


@register("calibration", short="random")
class RandomConfidence(Objective):
    """Push ``c`` toward a per-sample target ``t ~ U(1/K + 0.05, 0.99)`` (SPEC §3).

    Unlike the reference code we honour ``t``: the score is ``−|p_ŷ − t|`` and a
    sample is done when it is within ``tolerance`` (default 0.02) of its target.
    The targets come from the attack's seeded generator, so a run is reproducible.
    """

    name = "random_confidence"
    label_preserving = True

    def __init__(self, tolerance: float = 0.02):
        self.tolerance = _check_threshold("tolerance", tolerance)

    def validate(self, n_classes):
        check(n_classes >= 2, f"random_confidence needs K ≥ 2 classes, the model has K={n_classes}")

    def prepare(self, logp, y, kappa=None, generator=None):
        s = super().prepare(logp, y)
        n, k = logp.shape
        lo, hi = 1.0 / k + 0.05, 0.99
        u = torch.rand(n, generator=generator, device=logp.device if generator is None else generator.device)
        s["target"] = (lo + (hi - lo) * u).to(logp.device, logp.dtype)
        return s

    def score(self, logp, kappa, s):
        return -(pick(logp, s["yhat"]).exp() - s["target"]).abs()

    def done(self, logp, kappa, s):
        return (pick(logp, s["yhat"]).exp() - s["target"]).abs() <= self.tolerance


@register("ace")
class ACEDirection(Objective):
    """ACE score ``d·s(x')`` with ``s(x) = κ(f(x))[ŷ]`` and ``d = −1`` where ``ŷ = y``,
    ``+1`` where ``ŷ ≠ y`` (Galil & El-Yaniv 2021, SPEC §4).

    ``κ`` is the estimator's ``confidence(x)`` when it has one (SelectiveNet's
    ``g(x)``), else the softmax response ``p_ŷ``. ACE has no stopping threshold;
    success means the score moved the attacker's way from the clean input.
    """

    name = "ace"
    label_preserving = True
    needs_kappa = True

    @staticmethod
    def _s(logp, kappa, s):
        return pick(logp, s["yhat"]).exp() if kappa is None else kappa

    def prepare(self, logp, y, kappa=None, generator=None):
        s = super().prepare(logp, y)
        s["d"] = torch.where(s["yhat"] == y, -1.0, 1.0).to(logp.dtype)
        s["clean"] = s["d"] * self._s(logp, kappa, s)
        return s

    def score(self, logp, kappa, s):
        return s["d"] * self._s(logp, kappa, s)

    def success(self, logp, kappa, s):
        return self.score(logp, kappa, s) > s["clean"]


def make_objective(name: str, **params) -> Objective:
    """Objective by name; unknown names and bad thresholds raise :class:`AdvlabError`."""
    check(name in OBJECTIVES, f"objective={name!r} is unknown; allowed: {OBJECTIVES.names()}")
    return OBJECTIVES.get(name)(**params)
