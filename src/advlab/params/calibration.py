"""The calibration-attack family's section (SPEC §3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from advlab.params.spine import num_classes
from advlab.params.core import ModelRef, Name, NonNegInt, OpenProb, PosInt, Prob, Strict, UnitEps, merge_train


# Calibration attacks (SPEC §3, issue 4): see advlab.stages.calibration.
CAL_OBJECTIVES = ("underconfidence", "overconfidence", "max_miscalibration", "random_confidence")
CalSearch = Literal["square_linf", "square_l2", "pgd_linf", "pgd_l2"]


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

    objectives: list[Literal[CAL_OBJECTIVES]] = list(CAL_OBJECTIVES)
    searches: list[CalSearch] = ["square_linf", "square_l2", "pgd_linf"]
    standard: list[CalSearch] = Field(["square_linf", "pgd_linf"], description="standard (misclassifying) attacks "
                                      "on the same inputs: Square with the margin loss, PGD with CE")
    n_queries: PosInt = Field(300, description="Square's query budget per sample")
    pgd_steps: PosInt = 20


class CalDetectionParams(Strict):
    detectors: list[Literal["feature_squeezing", "mahalanobis", "lid"]] = ["feature_squeezing", "mahalanobis", "lid"]
    fit_size: PosInt = Field(1000, description="validation examples the detectors are fitted on")
    lid_k: Annotated[int, Field(ge=2)] = 20


class CalSweepParams(Strict):
    """ε sweep and query-budget sweep on one model."""

    model: ModelRef = "cnn"
    objectives: list[Literal[CAL_OBJECTIVES]] = ["underconfidence", "overconfidence", "max_miscalibration"]
    eps_linf: list[Annotated[float, Field(gt=0.0, le=1.0)]] = [0.01, 0.02, 0.05, 0.1]
    eps_searches: list[CalSearch] = ["square_linf", "pgd_linf"]
    queries: list[PosInt] = Field([10, 30, 100, 300], description="Square L∞ budgets at the default ε")


class CalTargetParams(Strict):
    """One attacked variant: a trained model (``models.<model>``), optionally wrapped post hoc.
    The attacker queries the wrapped (defended) model: the attack is adaptive."""

    model: ModelRef
    posthoc: Literal["none", "temperature", "compression_scaling"] = "none"
    role: Literal["defense", "imbalance"] = "defense"


class CalibrationParams(Strict):
    """The calibration-attack family (SPEC §3); stages in :mod:`advlab.stages.calibration`."""

    models: list[ModelRef] = ["cnn", "resnet", "vit"]
    n_eval: PosInt = Field(500, description="the first N examples of split.attack_eval")
    seed: NonNegInt = 0
    batch_size: PosInt = 500
    thresholds: CalThresholds = CalThresholds()
    eps: CalEps = CalEps()
    attack: CalAttackParams = CalAttackParams()
    detection: CalDetectionParams = CalDetectionParams()
    sweep: CalSweepParams = CalSweepParams()
    targets: dict[Name, CalTargetParams] = {"undefended": CalTargetParams(model="cnn")}
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
