"""The calibration-attack family's section (SPEC §3)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from advlab.params.spine import num_classes
from advlab.params.core import ModelRef, Name, NonNegInt, OpenProb, PosInt, Strict, one_of
from advlab.params.names import DetectorName, detector_names


# Calibration attacks (SPEC §3, issue 4): see advlab.study.calibration. Every name below is
# checked against the registry that defines it, never against a list written here.
def calibration_objectives() -> list[str]:
    """The engine objectives of family ``calibration``, in registration order."""
    from advlab.attacks.objectives import objective_names

    return list(objective_names("calibration"))


def _searches() -> list[str]:
    from advlab.study.calibration import SEARCHES

    return list(SEARCHES)


def _linf_searches() -> list[str]:
    from advlab.study.calibration import SEARCHES

    return [k for k, (_, norm) in SEARCHES.items() if norm == "linf"]


def _posthoc() -> list[str]:
    from advlab.defenses.posthoc import POSTHOC

    return POSTHOC.names()


CalObjective = Annotated[str, one_of(calibration_objectives, "calibration objective")]
CalSearch = Annotated[str, one_of(_searches, "calibration search")]
LinfSearch = Annotated[str, one_of(_linf_searches, "L∞ calibration search")]
PosthocName = Annotated[str, one_of(_posthoc, "post-hoc defense")]


class CalThresholds(Strict):
    """Stopping thresholds of the calibration objectives; each strictly inside (0, 1)."""

    tau_u: OpenProb = Field(0.01, description="underconfidence stops when p_ŷ − max_{k≠ŷ} p_k ≤ tau_u")
    tau_o: OpenProb = Field(0.99, description="overconfidence stops when c ≥ tau_o (a target confidence > 1/K)")
    tolerance: OpenProb = Field(0.02, description="random confidence stops within this of its target")


class CalEps(Strict):
    linf: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    l2: Annotated[float, Field(gt=0.0)] = 1.0


class CalAttackParams(Strict):
    """What ``calibration_attack@<model>`` runs: every objective × search at the default ε,
    and the standard attacks on the same inputs."""

    objectives: list[CalObjective] = Field(default_factory=calibration_objectives)
    searches: list[CalSearch] = ["square_linf", "square_l2", "pgd_linf"]
    standard: list[CalSearch] = Field(["square_linf", "pgd_linf"], description="standard (misclassifying) attacks "
                                      "on the same inputs: Square with the margin loss, PGD with CE")
    n_queries: PosInt = Field(300, description="Square's query budget per sample")
    pgd_steps: PosInt = 20


class CalDetectionParams(Strict):
    detectors: list[DetectorName] = Field(default_factory=detector_names)
    fit_size: PosInt = Field(1000, description="validation examples the detectors are fitted on")
    lid_k: Annotated[int, Field(ge=2)] = 20


class CalSweepParams(Strict):
    """ε sweep and query-budget sweep on one model."""

    model: ModelRef = "cnn"
    objectives: list[CalObjective] = Field(default_factory=calibration_objectives)
    eps_linf: list[Annotated[float, Field(gt=0.0, le=1.0)]] = [0.01, 0.02, 0.05, 0.1]
    eps_searches: list[LinfSearch] = ["square_linf", "pgd_linf"]
    queries: list[PosInt] = Field([10, 30, 100, 300], description="Square L∞ budgets at the default ε")


class CalTargetParams(Strict):
    """One attacked variant: a trained model (``models.<model>``), optionally wrapped post hoc.
    The attacker queries the wrapped (defended) model: the attack is adaptive."""

    model: ModelRef
    posthoc: PosthocName = Field("none", description="an advlab.defenses.posthoc.POSTHOC name")
    role: Literal["defense", "imbalance"] = "defense"


class CalibrationParams(Strict):
    """The calibration-attack family (SPEC §3); study in :mod:`advlab.study.calibration`."""

    models: list[ModelRef] = ["cnn", "resnet", "vit"]
    n_eval: PosInt = Field(500, description="the first N examples of split.attack_eval")
    seed: NonNegInt = 0
    batch_size: PosInt = 500
    thresholds: CalThresholds = Field(default_factory=CalThresholds)
    eps: CalEps = Field(default_factory=CalEps)
    attack: CalAttackParams = Field(default_factory=CalAttackParams)  # built on use: its defaults read registries
    detection: CalDetectionParams = Field(default_factory=CalDetectionParams)
    sweep: CalSweepParams = Field(default_factory=CalSweepParams)
    targets: dict[Name, CalTargetParams] = Field(default_factory=lambda: {"undefended": CalTargetParams(model="cnn")})
    target_searches: list[CalSearch] = Field(["square_linf", "pgd_linf"],
                                             description="searches run against every target (defenses, imbalance)")

    @model_validator(mode="after")
    def _check(self) -> "CalibrationParams":
        if not self.models or not self.attack.objectives or not self.attack.searches:
            raise ValueError("calibration: models, attack.objectives and attack.searches must each list at least one")
        return self

    def check_refs(self, p) -> None:
        k = num_classes(p.data.dataset)
        if self.thresholds.tau_o <= 1.0 / k:
            raise ValueError(f"calibration.thresholds.tau_o={self.thresholds.tau_o}: a target confidence must exceed "
                             f"1/K = {1.0 / k:.4g} for {p.data.dataset}")
        if self.n_eval > p.split.attack_eval:
            raise ValueError(f"calibration.n_eval={self.n_eval} exceeds split.attack_eval={p.split.attack_eval}")
