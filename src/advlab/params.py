"""The schema of ``params.yaml``: every knob of the study, validated before any work.

Unknown keys, wrong types and out-of-range values are errors whose message names the
key path, the bad value and what is allowed. ``advlab check-params FILE`` runs the
same validation on its own.

Later families add their own sections here; each stage reads only its sections and
declares exactly those in ``dvc.yaml`` so DVC reruns just what a change touches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from advlab.errors import AdvlabError

PARAMS_FILE = Path("params.yaml")

PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
Prob = Annotated[float, Field(ge=0.0, le=1.0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(Strict):
    dataset: Literal["fashion_mnist", "digits", "cifar10", "cifar100"] = "fashion_mnist"
    root: str = "data/raw"


class SplitParams(Strict):
    """Sizes of every data role (see :mod:`advlab.data.split`)."""

    seed: NonNegInt = 0
    target_pool: PosInt = Field(description="half members (training set), half non-members")
    validation: PosInt
    auxiliary: PosInt = Field(description="disjoint from the target pool; trains reference models")
    population: PosInt = Field(description="population points z for RMIA")
    test: PosInt | None = Field(None, description="None: the dataset's official test set")
    attack_eval: PosInt = Field(description="test examples the attack families evaluate on")
    shadow_models: NonNegInt = Field(description="K; every shadow-pool example is in exactly K/2")

    @field_validator("target_pool")
    @classmethod
    def _even_pool(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"must be even (half members, half non-members), got {v}")
        return v

    @field_validator("shadow_models")
    @classmethod
    def _even_k(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"must be even so every example is a member of exactly K/2 shadow models, got {v}")
        return v


class TrainParams(Strict):
    epochs: PosInt
    batch_size: PosInt = 128
    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    lr: Annotated[float, Field(gt=0.0, le=10.0)] = 1e-3
    momentum: Prob = 0.9
    weight_decay: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    schedule: Literal["constant", "cosine", "onecycle"] = "onecycle"
    warmup: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.15
    augment: list[Literal["crop", "hflip"]] = []
    objective: str = "standard"
    objective_options: dict[str, Any] = Field({}, description="keyword options of the training objective")
    label_smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    max_members: PosInt | None = Field(None, description="train on the first N members only")
    imbalance_ratio: Annotated[float, Field(ge=1.0)] | None = Field(
        None, description="long-tailed subsample of the members (after max_members): class c keeps n_max·r^(−c/(K−1))")

    @field_validator("objective")
    @classmethod
    def _known_objective(cls, v: str) -> str:
        from advlab.training.objectives import available

        if v not in available():
            raise ValueError(f"unknown training objective {v!r}; known: {', '.join(available())}")
        return v


class ModelParams(Strict):
    """One trained classifier: a target, a defended variant, an ensemble member, a surrogate."""

    arch: str
    options: dict[str, Any] = {}
    train: TrainParams
    seed: NonNegInt | None = Field(None, description="overrides the global seed (ensemble members)")

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, v: str) -> str:
        from advlab.models.zoo import available

        if v not in available():
            raise ValueError(f"unknown architecture {v!r}; the zoo has {', '.join(available())}")
        return v


class EvaluateParams(Strict):
    batch_size: PosInt = 512
    n_bins: PosInt = 15


class DPParams(Strict):
    """DP-SGD with Opacus (Abadi et al. 2016): noise calibrated to (ε, δ) for the run's epochs."""

    epsilon: Annotated[float, Field(gt=0.0)]
    delta: Annotated[float, Field(gt=0.0, lt=1.0)] | None = Field(None, description="None: 1/n (n = training-set size)")
    max_grad_norm: Annotated[float, Field(gt=0.0)] = 1.0


class EarlyStoppingParams(Strict):
    """Stop when the validation NLL has not improved for ``patience`` epochs; keep the best epoch."""

    patience: PosInt = 2


class MiaRecipe(Strict):
    """Overrides of ``models.<target_model>`` (model options and TrainParams fields)."""

    options: dict[str, Any] = {}
    train: dict[str, Any] = {}


class MiaTargetParams(MiaRecipe):
    """One attacked target: the MIA recipe plus its own overrides, DP-SGD or early stopping."""

    role: Literal["baseline", "defense", "overfitting"] = Field(
        "defense", description="where the report puts it: the baseline, a defense, or an overfitting level")
    dp: DPParams | None = None
    early_stopping: EarlyStoppingParams | None = None


class MiaAttackParams(Strict):
    attacks: list[Literal["loss", "ml_leaks", "watson", "lira_online", "lira_offline", "lira_online_fixed",
                          "lira_offline_fixed", "lira_online_1query", "ldc_mia", "rmia_offline",
                          "rmia_online"]] = ["loss", "ml_leaks", "watson", "lira_online", "lira_offline",
                                             "lira_online_fixed", "lira_offline_fixed", "lira_online_1query",
                                             "ldc_mia", "rmia_offline", "rmia_online"]
    fprs: list[float] = [0.0001, 0.001, 0.01]
    rmia_references: list[PosInt] = Field([1, 2], description="RMIA offline is run once per count of reference models")
    rmia_a: Prob = 0.3
    rmia_gamma: Annotated[float, Field(gt=0.0)] = 1.0
    ldc_threshold: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.0
    ldc_epochs: PosInt = 100
    ml_leaks_classifier: Literal["mlp", "logreg"] = "mlp"

    @field_validator("fprs")
    @classmethod
    def _fprs(cls, v: list[float]) -> list[float]:
        bad = [f for f in v if not 0.0 < f < 1.0]
        if bad or not v:
            raise ValueError(f"every FPR must lie strictly between 0 and 1 (and list at least one); bad: {bad}")
        return v


class MembershipParams(Strict):
    """The membership-inference family (SPEC §5); see :mod:`advlab.stages.mia_train`.

    K shadow models = ``split.shadow_models`` (the plan's keep matrix). ``pool``: a seeded
    subset of the target pool that the MIA target, shadows and attacks use (None: all).
    """

    target_model: str = "cnn"
    recipe: MiaRecipe = MiaRecipe()
    pool: PosInt | None = None
    population: PosInt | None = Field(None, description="RMIA population points used (None: all of the plan's)")
    seed: NonNegInt = 0
    references: PosInt = 2
    reference_size: PosInt | None = Field(None, description="training-set size of each reference (None: pool/2)")
    queries: list[str] = ["id", "flip", "shift:2:0", "shift:-2:0", "shift:0:2", "shift:0:-2"]
    targets: dict[str, MiaTargetParams] = {"base": MiaTargetParams()}
    attack: MiaAttackParams = MiaAttackParams()

    @field_validator("pool")
    @classmethod
    def _even_pool(cls, v: int | None) -> int | None:
        if v is not None and (v < 4 or v % 2):
            raise ValueError(f"must be even and >= 4 (members and non-members), got {v}")
        return v

    @model_validator(mode="after")
    def _check(self) -> "MembershipParams":
        if not self.targets:
            raise ValueError("membership.targets: list at least one target variant")
        for name in self.targets:
            if not name.replace("_", "").isalnum():
                raise ValueError(f"membership.targets: name {name!r} must be letters, digits and underscores")
        too_many = [r for r in self.attack.rmia_references if r > self.references]
        if too_many and "rmia_offline" in self.attack.attacks:
            raise ValueError(f"membership.attack.rmia_references asks for {max(too_many)} reference models but "
                             f"membership.references trains only {self.references}")
        if not self.queries:
            raise ValueError("membership.queries: list at least one query (e.g. id)")
        return self


class EvasionAttackParams(Strict):
    """One evasion attack run by ``evasion@<model>``: an engine attack and its settings."""

    attack: str = Field(description="an engine attack: fgsm, pgd, cw, square, hsja, transfer")
    eps: Annotated[float, Field(gt=0.0)]
    norm: Literal["linf", "l2"] = "linf"
    params: dict[str, Any] = Field({}, description="engine parameters (steps, n_queries, ...)")
    n: PosInt | None = Field(None, description="evaluate on the first n of evasion.n_eval (None: all)")
    models: list[str] | None = Field(None, description="run on these targets only (None: every evasion.models)")

    @model_validator(mode="after")
    def _check(self) -> "EvasionAttackParams":
        from advlab.attacks.registry import ATTACKS

        if self.attack not in ATTACKS or self.attack == "ace":
            raise ValueError(f"attack {self.attack!r} is unknown here; allowed: "
                             f"{', '.join(a for a in sorted(ATTACKS) if a != 'ace')}")
        spec = ATTACKS[self.attack]
        if self.norm not in spec.norms:
            raise ValueError(f"norm {self.norm!r} is not supported by {self.attack}; allowed: {list(spec.norms)}")
        if self.norm == "linf" and self.eps > 1.0:
            raise ValueError(f"eps {self.eps} is outside the data range: an L∞ budget must be in (0, 1]")
        bad = sorted(set(self.params) - (set(spec.defaults) - {"surrogate"}) - {"objective"})
        if bad:
            raise ValueError(f"params {bad} are unknown for attack {self.attack!r}; allowed: "
                             f"{sorted(set(spec.defaults) - {'surrogate'})}")
        return self


class EvasionDefenseParams(Strict):
    """An inference-time defense in front of ``evasion.defense_model``, attacked naively and adaptively."""

    kind: Literal["bit_depth", "median", "jpeg", "resize_pad"]
    options: dict[str, Any] = {}


class CertifyParams(Strict):
    """Randomized smoothing CERTIFY (Cohen et al. 2019) on noise-trained models."""

    models: list[str] = Field([], description="noise-trained models (objective gaussian_noise); sigma = their training sigma")
    n0: PosInt = 100
    n: PosInt = 1000
    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.001
    n_eval: PosInt = 200
    batch_size: PosInt = 1000
    max_radius: Annotated[float, Field(gt=0.0)] = 2.0


class PoisoningParams(Strict):
    """Label flipping and BadNets sweeps; each rate trains one model with ``models.<model>``'s recipe."""

    model: str = "cnn"
    train: dict[str, Any] = Field({}, description="overrides of models.<model>.train (e.g. epochs, max_members)")
    label_flip_rates: list[Prob] = [0.0, 0.1, 0.2, 0.4]
    backdoor_rates: list[Prob] = [0.0, 0.01, 0.05, 0.1]
    target_class: NonNegInt = 0
    patch_size: PosInt = 3
    patch_value: Prob = 1.0

    @field_validator("label_flip_rates", "backdoor_rates")
    @classmethod
    def _rates(cls, v: list[float]) -> list[float]:
        if not v or any(r >= 1.0 for r in v):
            raise ValueError(f"list at least one rate, each in [0, 1); got {v}")
        return v


class DetectionParams(Strict):
    """Detection AUROC of each detector against each evasion attack's examples."""

    model: str = "cnn"
    attacks: list[str] = Field([], description="names under evasion.attacks")
    detectors: list[Literal["feature_squeezing", "mahalanobis", "lid"]] = ["feature_squeezing", "mahalanobis", "lid"]
    fit_size: PosInt = 2000
    squeeze_bits: Annotated[int, Field(ge=1, le=8)] = 1
    lid_k: PosInt = 20


class EvasionParams(Strict):
    """The evasion family (SPEC §2): attacks, defenses, certification, poisoning, detection."""

    models: list[str] = Field(description="targets attacked by every attack (names under models)")
    n_eval: PosInt = 500
    batch_size: PosInt = 500
    attacks: dict[str, EvasionAttackParams]
    surrogate: str = Field("resnet", description="the attacker's own model (another architecture) for transfer attacks")
    sweep_eps: list[Annotated[float, Field(gt=0.0, le=1.0)]] = [0.02, 0.05, 0.1, 0.15, 0.2]
    sweep_steps: PosInt = 20
    defense_model: str = "cnn"
    defenses: dict[str, EvasionDefenseParams] = {}
    defense_eps: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    defense_steps: PosInt = 40
    eot_samples: PosInt = 10
    defense_n: PosInt = 300
    certify: CertifyParams = CertifyParams()
    poisoning: PoisoningParams = PoisoningParams()
    detection: DetectionParams = DetectionParams()

    @model_validator(mode="after")
    def _check(self) -> "EvasionParams":
        for where, names in [("attacks", self.attacks), ("defenses", self.defenses)]:
            for name in names:
                if not name.replace("_", "").isalnum():
                    raise ValueError(f"evasion.{where}: name {name!r} must be letters, digits and underscores")
        missing = [a for a in self.detection.attacks if a not in self.attacks]
        if missing:
            raise ValueError(f"evasion.detection.attacks names {missing}, which are not under evasion.attacks "
                             f"(have {', '.join(self.attacks)})")
        return self


# Calibration attacks (SPEC §3, issue 4): see advlab.stages.calibration.
CAL_OBJECTIVES = ("underconfidence", "overconfidence", "max_miscalibration", "random_confidence")
CalSearch = Literal["square_linf", "square_l2", "pgd_linf", "pgd_l2"]
OpenProb = Annotated[float, Field(gt=0.0, lt=1.0)]


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

    model: str = "cnn"
    objectives: list[Literal[CAL_OBJECTIVES]] = ["underconfidence", "overconfidence", "max_miscalibration"]
    eps_linf: list[Annotated[float, Field(gt=0.0, le=1.0)]] = [0.01, 0.02, 0.05, 0.1]
    eps_searches: list[CalSearch] = ["square_linf", "pgd_linf"]
    queries: list[PosInt] = Field([10, 30, 100, 300], description="Square L∞ budgets at the default ε")


class CalTargetParams(Strict):
    """One attacked variant: a trained model (``models.<model>``), optionally wrapped post hoc.
    The attacker queries the wrapped (defended) model: the attack is adaptive."""

    model: str
    posthoc: Literal["none", "temperature", "compression_scaling"] = "none"
    role: Literal["defense", "imbalance"] = "defense"


class CalibrationParams(Strict):
    """The calibration-attack family (SPEC §3); stages in :mod:`advlab.stages.calibration`."""

    models: list[str] = ["cnn", "resnet", "vit"]
    n_eval: PosInt = Field(500, description="the first N examples of split.attack_eval")
    seed: NonNegInt = 0
    batch_size: PosInt = 500
    thresholds: CalThresholds = CalThresholds()
    eps: CalEps = CalEps()
    attack: CalAttackParams = CalAttackParams()
    detection: CalDetectionParams = CalDetectionParams()
    sweep: CalSweepParams = CalSweepParams()
    targets: dict[str, CalTargetParams] = {"undefended": CalTargetParams(model="cnn")}
    target_searches: list[CalSearch] = Field(["square_linf", "pgd_linf"],
                                             description="searches run against every target (defenses, imbalance)")

    @model_validator(mode="after")
    def _check(self) -> "CalibrationParams":
        if not self.models or not self.attack.objectives or not self.attack.searches:
            raise ValueError("calibration: models, attack.objectives and attack.searches must each list at least one")
        for name in self.targets:
            if not name.replace("_", "").isalnum():
                raise ValueError(f"calibration.targets: name {name!r} must be letters, digits and underscores")
        return self


class UncertaintyRun(Strict):
    """What every ACE stage reads (SPEC §4; :mod:`advlab.stages.uncertainty`)."""

    eval_size: PosInt | None = Field(None, description="the first N of split.attack_eval (None: all of it)")
    batch_size: PosInt = 500
    eps: list[float] = Field(description="L∞ budgets of the ε sweep, each in (0, 1]")
    halvings: PosInt = 15
    black_box: bool = True
    iterative_steps: NonNegInt = Field(10, description="PGD steps of the iterative label-preserving ACE (0: off)")
    coverages: list[float] = [0.5, 0.8, 0.9, 1.0]
    gallery: NonNegInt = Field(8, description="right and wrong examples saved for the report's gallery")

    @field_validator("eps", "coverages")
    @classmethod
    def _unit_interval(cls, v: list[float], info) -> list[float]:
        bad = [e for e in v if not 0.0 < e <= 1.0]
        if bad or not v:
            what = "ε" if info.field_name == "eps" else "coverage"
            raise ValueError(f"every {what} must be in (0, 1] (and list at least one); bad: {bad}")
        return v


class UncertaintyParams(Strict):
    """ACE on four uncertainty estimators (SPEC §4). Every name is a ``models:`` entry."""

    proxy: str = Field(description="the attacker's own model for black-box ACE (trained separately)")
    softmax: list[str] = Field(description="models attacked through their softmax response")
    mc_dropout: list[str] = Field(description="models attacked through MC-Dropout (they need dropout > 0)")
    mc_dropout_T: int = 10
    ensemble: list[str] = Field(description="the M members of the deep ensemble")
    selectivenet: list[str] = Field(description="models of arch selectivenet")
    run: UncertaintyRun

    @field_validator("mc_dropout_T")
    @classmethod
    def _t(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"MC-Dropout needs T >= 1 stochastic passes, got T = {v}")
        return v

    @field_validator("ensemble")
    @classmethod
    def _m(cls, v: list[str]) -> list[str]:
        if len(v) < 1:
            raise ValueError("a deep ensemble needs M >= 1 members, got M = 0")
        if len(set(v)) != len(v):
            raise ValueError(f"ensemble members must be distinct models, got {v}")
        return v

    @model_validator(mode="after")
    def _lists(self) -> "UncertaintyParams":
        for key in ("softmax", "mc_dropout", "selectivenet"):
            if not getattr(self, key):
                raise ValueError(f"uncertainty.{key}: list at least one model")
        return self


class Params(Strict):
    seed: NonNegInt = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    data: DataParams = DataParams()
    split: SplitParams
    models: dict[str, ModelParams]
    evaluate: EvaluateParams = EvaluateParams()
    reports: list[Literal["models", "membership", "evasion", "uncertainty", "calibration"]] = ["models"]
    membership: MembershipParams | None = None
    calibration: CalibrationParams | None = None
    evasion: EvasionParams | None = None
    uncertainty: UncertaintyParams | None = None

    @model_validator(mode="after")
    def _model_names(self) -> "Params":
        if not self.models:
            raise ValueError("models: list at least one model")
        for name in self.models:
            if not name.replace("_", "").isalnum():
                raise ValueError(f"models: name {name!r} must be letters, digits and underscores")
        if self.membership is not None:
            self._check_membership(self.membership)
        if self.calibration is not None:
            self._check_calibration(self.calibration)
        if self.evasion is not None:
            self._check_evasion(self.evasion)
        if self.uncertainty is not None:
            self._check_uncertainty(self.uncertainty)
        return self

    def _check_uncertainty(self, u: UncertaintyParams) -> None:
        lists = {"softmax": u.softmax, "mc_dropout": u.mc_dropout, "ensemble": u.ensemble,
                 "selectivenet": u.selectivenet, "proxy": [u.proxy]}
        for key, names in lists.items():
            for name in names:
                if name not in self.models:
                    raise ValueError(f"uncertainty.{key}: model {name!r} is not under models "
                                     f"(have {', '.join(self.models)})")
                if key != "proxy" and name == u.proxy:
                    raise ValueError(f"uncertainty.{key}: {name!r} is also uncertainty.proxy; black-box ACE "
                                     f"needs a proxy the attacker trained separately")
        for name in u.mc_dropout:
            if not float(self.models[name].options.get("dropout", 0.0) or 0.0) > 0:
                raise ValueError(f"uncertainty.mc_dropout: model {name!r} has no dropout (arch "
                                 f"{self.models[name].arch}, options.dropout = "
                                 f"{self.models[name].options.get('dropout', 0.0)}); MC-Dropout needs "
                                 f"models.{name}.options.dropout > 0, or attack it under softmax only")
        for name in u.selectivenet:
            m = self.models[name]
            if m.arch != "selectivenet" or m.train.objective != "selectivenet":
                raise ValueError(f"uncertainty.selectivenet: model {name!r} has arch {m.arch!r} and objective "
                                 f"{m.train.objective!r}; SelectiveNet needs arch 'selectivenet' trained with "
                                 f"objective 'selectivenet'")
        for name, m in self.models.items():
            if m.train.objective == "selectivenet":
                c = m.train.objective_options.get("coverage", 0.8)
                if not (isinstance(c, (int, float)) and not isinstance(c, bool) and 0 < c <= 1):
                    raise ValueError(f"models.{name}.train.objective_options.coverage: the SelectiveNet target "
                                     f"coverage must be in (0, 1], got {c!r}")

    def _check_membership(self, m: MembershipParams) -> None:
        if m.target_model not in self.models:
            raise ValueError(f"membership.target_model {m.target_model!r} is not under models "
                             f"(have {', '.join(self.models)})")
        base = self.models[m.target_model]
        for where, over in [("recipe", m.recipe), *((f"targets.{k}", t) for k, t in m.targets.items())]:
            merged = {**base.train.model_dump(), **m.recipe.train, **over.train}
            try:
                TrainParams.model_validate(merged)
            except ValidationError as err:
                e = err.errors()[0]
                raise ValueError(f"membership.{where}.train: {'.'.join(map(str, e['loc']))}: "
                                 f"{e['msg']} (got {e.get('input')!r})") from None
            opts = {**base.options, **m.recipe.options, **over.options}
            if getattr(over, "dp", None) is not None and base.arch == "small_cnn" and opts.get("norm", "batch") == "batch":
                raise ValueError(f"membership.{where}: DP-SGD cannot train BatchNorm (per-sample gradients); "
                                 f"set options: {{norm: group}}")

    def _check_evasion(self, e: EvasionParams) -> None:
        def need(key: str, name: str | None) -> None:
            if name is not None and name not in self.models:
                raise ValueError(f"{key}: model {name!r} is not under models (have {', '.join(self.models)})")

        for m in e.models:
            need("evasion.models", m)
        need("evasion.surrogate", e.surrogate)
        if e.surrogate in e.models:
            raise ValueError(f"evasion.surrogate: {e.surrogate!r} is also a target in evasion.models; the surrogate is "
                             f"the attacker's own model, pick one that is not attacked")
        for a, spec in e.attacks.items():
            for m in spec.models or []:
                need(f"evasion.attacks.{a}.models", m)
        need("evasion.defense_model", e.defense_model)
        need("evasion.poisoning.model", e.poisoning.model)
        need("evasion.detection.model", e.detection.model)
        if e.detection.attacks and e.detection.model not in e.models:
            raise ValueError(f"evasion.detection.model {e.detection.model!r} must be one of evasion.models "
                             f"(the detectors read its adversarial examples)")
        for m in e.certify.models:
            need("evasion.certify.models", m)
            if self.models[m].train.objective != "gaussian_noise":
                raise ValueError(f"evasion.certify.models: {m!r} has training objective "
                                 f"{self.models[m].train.objective!r}; randomized smoothing needs a base model trained "
                                 f"with objective gaussian_noise (its sigma is the smoothing sigma)")
        base = self.models[e.poisoning.model]
        try:
            TrainParams.model_validate({**base.train.model_dump(), **e.poisoning.train})
        except ValidationError as err:
            x = err.errors()[0]
            raise ValueError(f"evasion.poisoning.train: {'.'.join(map(str, x['loc']))}: {x['msg']} "
                             f"(got {x.get('input')!r})") from None


    def _check_calibration(self, c: CalibrationParams) -> None:
        named = [("calibration.models", m) for m in c.models] + [("calibration.sweep.model", c.sweep.model)]
        named += [(f"calibration.targets.{k}.model", t.model) for k, t in c.targets.items()]
        for where, m in named:
            if m not in self.models:
                raise ValueError(f"{where}: {m!r} is not under models (have {', '.join(self.models)})")
        k = 100 if self.data.dataset == "cifar100" else 10
        if c.thresholds.tau_o <= 1.0 / k:
            raise ValueError(f"calibration.thresholds.tau_o={c.thresholds.tau_o}: a target confidence must exceed "
                             f"1/K = {1.0 / k:.4g} for {self.data.dataset}")
        if c.n_eval > self.split.attack_eval:
            raise ValueError(f"calibration.n_eval={c.n_eval} exceeds split.attack_eval={self.split.attack_eval}")


def _format(err: ValidationError, source: str) -> str:
    lines = [f"{source}: {err.error_count()} invalid value(s)"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"  {loc}: unknown key (check the spelling; see params.yaml for the allowed keys)")
        elif e["type"] == "missing":
            lines.append(f"  {loc}: required key is missing")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"  {loc}: {msg}" + (f" (got {e['input']!r})" if e["loc"] else ""))
    return "\n".join(lines)


def validate(raw: Any, source: str = "params") -> Params:
    """Validate a parsed params mapping; raise :class:`AdvlabError` naming every bad key."""
    if not isinstance(raw, dict):
        raise AdvlabError(f"{source}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise AdvlabError(_format(err, source)) from None


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise AdvlabError(f"{path}: params file not found (run from the repository root, or pass its path)")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise AdvlabError(f"{path}: not valid YAML: {err}") from None


def load(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate ``params.yaml`` (or another params file)."""
    return validate(read_yaml(path), str(path))
