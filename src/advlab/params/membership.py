"""The membership-inference family's section (SPEC §5)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from advlab.params.spine import arch_has_batchnorm, input_shape, option_problems
from advlab.params.core import ModelRef, Name, NonNegInt, PosInt, Prob, Strict, merge_train


class DPParams(Strict):
    """DP-SGD with Opacus (Abadi et al. 2016): noise calibrated to (ε, δ) for the run's epochs."""

    epsilon: Annotated[float, Field(gt=0.0)]
    delta: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(1e-5, description="well below 1/n, as is conventional (SPEC §5)")
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

    role: Literal["baseline", "defense", "overfitting", "ablation"] = Field(
        "defense", description="where the report puts it: the baseline, a defense, an overfitting level, or an "
                               "ablation (the baseline without one of its ingredients, e.g. no augmentation)")
    dp: DPParams | None = None
    early_stopping: EarlyStoppingParams | None = None


class MiaAttackParams(Strict):
    attacks: list[str] | None = Field(
        None, description="registered membership attacks to run, in this order (None: every registered attack)")
    fprs: list[float] = [0.0001, 0.001, 0.01]
    rmia_references: list[PosInt] = Field([1, 2], description="RMIA offline is run once per count of reference models")
    rmia_a: Prob = 0.3
    rmia_gamma: Annotated[float, Field(gt=0.0)] = 1.0
    ldc_threshold: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.0
    ldc_epochs: PosInt = 100
    ml_leaks_classifier: Literal["mlp", "logreg"] = "mlp"

    @field_validator("attacks")
    @classmethod
    def _registered(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        from advlab.attacks.membership.registry import MIA_ATTACKS

        unknown = [a for a in v if a not in MIA_ATTACKS]
        if unknown or not v or len(set(v)) != len(v):
            raise ValueError(f"list registered membership attacks, each once (or null for all); unknown: {unknown}; "
                             f"registered: {', '.join(MIA_ATTACKS.names())}")
        return v

    @field_validator("fprs")
    @classmethod
    def _fprs(cls, v: list[float]) -> list[float]:
        bad = [f for f in v if not 0.0 < f < 1.0]
        if bad or not v:
            raise ValueError(f"every FPR must lie strictly between 0 and 1 (and list at least one); bad: {bad}")
        return v


class MembershipParams(Strict):
    """The membership-inference family (SPEC §5); see :mod:`advlab.study.membership`.

    K shadow models = ``split.shadow_models`` (the plan's keep matrix). ``pool``: a seeded
    subset of the target pool that the MIA target, shadows and attacks use (None: all).
    """

    target_model: ModelRef = "cnn"
    recipe: MiaRecipe = MiaRecipe()
    pool: PosInt | None = None
    population: PosInt | None = Field(None, description="RMIA population points used (None: all of the plan's)")
    seed: NonNegInt = 0
    references: PosInt = 2
    reference_size: PosInt | None = Field(None, description="training-set size of each reference (None: pool/2)")
    queries: list[str] | None = Field(
        None, description="LiRA's queries per example (advlab.attacks.membership.signals.apply_query names); null: "
                          "derived from the recipe's augmentations (training_queries): id, flip with hflip, "
                          "shifts by the crop's pad with crop, flipped shifts with both")
    targets: dict[Name, MiaTargetParams] = {"base": MiaTargetParams()}
    attack: MiaAttackParams = MiaAttackParams()

    @field_validator("pool")
    @classmethod
    def _even_pool(cls, v: int | None) -> int | None:
        if v is not None and (v < 4 or v % 2):
            raise ValueError(f"must be even and >= 4 (members and non-members), got {v}")
        return v

    @field_validator("queries")
    @classmethod
    def _queries(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        from advlab.attacks.membership.signals import query_problem

        if not v:
            raise ValueError("list at least one query (e.g. [id]), or null for the recipe's augmentations")
        problems = [pr for q in v if (pr := query_problem(q)) is not None]
        if problems:
            raise ValueError(problems[0])
        if len(set(v)) != len(v):
            raise ValueError("list each query once")
        return v

    @model_validator(mode="after")
    def _check(self) -> "MembershipParams":
        if not self.targets:
            raise ValueError("membership.targets: list at least one target variant")
        too_many = [r for r in self.attack.rmia_references if r > self.references]
        if too_many and (self.attack.attacks is None or "rmia_offline" in self.attack.attacks):
            raise ValueError(f"membership.attack.rmia_references asks for {max(too_many)} reference models but "
                             f"membership.references trains only {self.references}")
        return self

    def check_refs(self, p) -> None:
        """What needs the rest of the file: every recipe merges into ``models.<target_model>``."""
        base = p.models[self.target_model]
        for where, over in [("recipe", self.recipe), *((f"targets.{k}", t) for k, t in self.targets.items())]:
            train = merge_train(base.train, self.recipe.train, over.train, where=f"membership.{where}.train")
            if getattr(over, "dp", None) is not None and train.precision != "fp32":
                raise ValueError(f"membership.{where}.train.precision: DP-SGD trains in fp32 only (Opacus' per-sample "
                                 f"gradients); set precision: fp32 for this target")
            opts = {**base.options, **self.recipe.options, **over.options}
            problems = option_problems(base.arch, opts, input_shape(p.data.dataset))
            if problems:
                raise ValueError(f"membership.{where}.options.{problems[0]} (merged with models.{self.target_model})")
            if getattr(over, "dp", None) is not None and arch_has_batchnorm(base.arch, opts):
                raise ValueError(f"membership.{where}: DP-SGD cannot train BatchNorm (per-sample gradients); "
                                 f"set options: {{norm: group}}")
