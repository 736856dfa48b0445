"""The spine's sections: data, split plan, models (architecture, options, training recipe), evaluation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_serializer, model_validator

from advlab.params.core import NonNegInt, PosInt, Prob, Strict, one_of


def _dataset(v: str) -> str:
    from advlab.data.sources import DATASETS

    if v not in DATASETS:
        raise ValueError(f"unknown dataset {v!r}; choose one of {', '.join(DATASETS.names())}")
    return v


def num_classes(dataset: str) -> int:
    from advlab.data.sources import DATASETS

    return DATASETS.meta(dataset)["num_classes"]


def _capabilities(arch: str, options: dict) -> dict:
    from advlab.models.zoo import capabilities

    return capabilities(arch, options)


def option_problems(arch: str, options: dict, input_shape=None) -> list[str]:
    """The zoo's check of ``options`` for ``arch`` (``<option>: <problem>`` lines); see
    :func:`advlab.models.zoo.option_problems`."""
    from advlab.models.zoo import option_problems as problems

    return problems(arch, options, input_shape)


def input_shape(dataset: str) -> tuple[int, ...]:
    from advlab.data.sources import DATASETS

    return tuple(DATASETS.meta(dataset)["input_shape"])


def arch_has_batchnorm(arch: str, options: dict) -> bool:
    return _capabilities(arch, options)["batchnorm"]


def arch_has_dropout(arch: str, options: dict) -> bool:
    return _capabilities(arch, options)["dropout"]


def arch_is_selective(arch: str, options: dict) -> bool:
    return _capabilities(arch, options)["selective"]


def _schedule(v: str) -> str:
    if v == "onecycle":
        raise ValueError("the schedule 'onecycle' was renamed to 'warmup_cosine' (a linear warm-up, then cosine "
                         "decay; not torch's OneCycleLR): write schedule: warmup_cosine")
    return v


def _data_root(v: str) -> str:
    from pathlib import PurePosixPath

    if not v.strip():
        raise ValueError("must name a folder (the default is data/raw)")
    path = PurePosixPath(v)
    if not path.is_absolute() and ".." in path.parts:
        raise ValueError(f"the relative path {v!r} contains '..': a relative root must stay inside the project "
                         "(e.g. data/raw); give data kept elsewhere by its absolute path")
    return v


class DataParams(Strict):
    dataset: Annotated[str, AfterValidator(_dataset)] = "fashion_mnist"
    root: Annotated[str, AfterValidator(_data_root)] = Field(
        "data/raw", description="where the raw dataset is looked for and downloaded to")
    """Where the raw dataset is looked for (and where torchvision downloads it): a relative path
    is resolved from the repository root and must stay inside the project (no ``..`` component),
    so a shared params file never reaches outside the checkout unnoticed; data kept elsewhere
    (a shared disk, say) is named by its absolute path, an explicit choice. Whatever it points
    at is only ever read as data: CIFAR's pickled batches go through a restricted unpickler
    (:class:`advlab.data.sources.DataUnpickler`) that builds arrays, lists, dicts, strings and
    numbers and refuses anything else."""


def _inside_project(v: str) -> str:
    from pathlib import PurePosixPath

    path = PurePosixPath(v)
    if not v.strip() or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{v!r} must be a relative folder inside the project (e.g. reports/tiny), "
                         "with no '..'")
    return v


def _profile_name(v: str) -> str:
    if not v or not v.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"profile name {v!r} must be letters, digits, '-' and '_' (a file under profiles/)")
    return v


class IntervalParams(Strict):
    """The seeded percentile bootstrap behind every interval in the reports (SPEC §1):
    ``resamples`` over the evaluation examples (at least 100), ``confidence`` strictly in (0, 1)."""

    resamples: Annotated[int, Field(ge=100)] = 1000
    confidence: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.95
    seed: NonNegInt = 0

    def kwargs(self) -> dict:
        """The keyword arguments of :func:`advlab.metrics.bootstrap.bootstrap`."""
        return {"n_resamples": self.resamples, "confidence": self.confidence, "seed": self.seed}


class OutputParams(Strict):
    """Where the rendered reports and the headline metrics go. The default profile writes the
    committed ``reports/`` and ``metrics/``; every other profile writes under
    ``reports/<profile>/`` (like the default ones, git-tracked outputs of DVC), so a test or a smoke run
    never overwrites the committed default reports. ``profile`` names the profile in each
    report's provenance header."""

    profile: Annotated[str, AfterValidator(_profile_name)] = "default"
    reports: Annotated[str, AfterValidator(_inside_project)] = "reports"
    metrics: Annotated[str, AfterValidator(_inside_project)] = "metrics"


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
    schedule: Annotated[Literal["constant", "cosine", "warmup_cosine"], BeforeValidator(_schedule)] = "warmup_cosine"
    warmup: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.15
    augment: list[Literal["crop", "hflip"]] = []
    objective: str = "standard"
    objective_options: dict[str, Any] = Field({}, description="keyword options of the training objective")
    label_smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    max_members: PosInt | None = Field(None, description="train on the first N members only")
    imbalance_ratio: Annotated[float, Field(ge=1.0)] | None = Field(
        None, description="long-tailed subsample of the members (after max_members): class c keeps n_max·r^(−c/(K−1))")
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="bf16: forward and loss under bfloat16 autocast (weights and optimiser stay fp32)")

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        """fp32 (the default) is left out of the dump, so every fp32 recipe keeps the training key
        (and the sidecar) it had before the option existed and no saved model is retrained."""
        out = handler(self)
        if out.get("precision") == "fp32":
            del out["precision"]
        return out

    @field_validator("objective")
    @classmethod
    def _known_objective(cls, v: str) -> str:
        from advlab.training.objectives import available

        if v not in available():
            raise ValueError(f"unknown training objective {v!r}; known: {', '.join(available())}")
        return v


def _architectures() -> list[str]:
    from advlab.models.registry import MODELS

    return MODELS.names()


class ModelParams(Strict):
    """One trained classifier: a target, a defended variant, an ensemble member, a surrogate."""

    arch: Annotated[str, one_of(_architectures, "architecture")]
    options: dict[str, Any] = {}
    train: TrainParams
    seed: NonNegInt | None = Field(None, description="overrides the global seed (ensemble members)")

    @field_validator("options")
    @classmethod
    def _drop_null_options(cls, v: dict) -> dict:
        """An option set to null is removed (the architecture's default): how a profile that
        changes ``arch`` drops the options its base profile gave the old architecture."""
        return {k: x for k, x in v.items() if x is not None}

    @model_validator(mode="after")
    def _options(self) -> "ModelParams":
        """Every option of the architecture, checked by the zoo before any work (the image size
        is checked by :class:`~advlab.params.study.Params`, which knows the dataset)."""
        problems = option_problems(self.arch, self.options)
        if problems:
            raise ValueError(f"options.{problems[0]}")
        return self

    @model_validator(mode="after")
    def _selective_coverage(self) -> "ModelParams":
        if self.train.objective == "selectivenet":
            c = self.train.objective_options.get("coverage", 0.8)
            if not (isinstance(c, (int, float)) and not isinstance(c, bool) and 0 < c <= 1):
                raise ValueError(f"train.objective_options.coverage: the SelectiveNet target coverage must be "
                                 f"in (0, 1], got {c!r}")
        return self


class EvaluateParams(Strict):
    batch_size: PosInt = 512
    n_bins: PosInt = 15
