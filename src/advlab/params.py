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
    objective: Literal["standard"] = "standard"
    label_smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    max_members: PosInt | None = Field(None, description="train on the first N members only")


class ModelParams(Strict):
    arch: str
    options: dict[str, Any] = {}
    train: TrainParams

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


class Params(Strict):
    seed: NonNegInt = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    data: DataParams = DataParams()
    split: SplitParams
    models: dict[str, ModelParams]
    evaluate: EvaluateParams = EvaluateParams()
    reports: list[Literal["models"]] = ["models"]

    @model_validator(mode="after")
    def _model_names(self) -> "Params":
        if not self.models:
            raise ValueError("models: list at least one model")
        for name in self.models:
            if not name.replace("_", "").isalnum():
                raise ValueError(f"models: name {name!r} must be letters, digits and underscores")
        return self


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
