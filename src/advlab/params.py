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


class Params(Strict):
    seed: NonNegInt = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    data: DataParams = DataParams()
    split: SplitParams
    models: dict[str, ModelParams]
    evaluate: EvaluateParams = EvaluateParams()
    reports: list[Literal["models", "membership"]] = ["models"]
    membership: MembershipParams | None = None

    @model_validator(mode="after")
    def _model_names(self) -> "Params":
        if not self.models:
            raise ValueError("models: list at least one model")
        for name in self.models:
            if not name.replace("_", "").isalnum():
                raise ValueError(f"models: name {name!r} must be letters, digits and underscores")
        if self.membership is not None:
            self._check_membership(self.membership)
        return self

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
            lines.append(f"  {loc}: {msg} (got {e['input']!r})")
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
