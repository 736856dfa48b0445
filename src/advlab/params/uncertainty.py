"""The uncertainty family's section (SPEC §4): ACE on four estimators."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from advlab.params.spine import arch_has_dropout, arch_is_selective
from advlab.params.core import ModelRef, NonNegInt, PosInt, Strict


class UncertaintyRun(Strict):
    """What every ACE case reads (SPEC §4; :mod:`advlab.study.uncertainty`)."""

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

    proxy: ModelRef = Field(description="the attacker's own model for black-box ACE (trained separately)")
    softmax: list[ModelRef] = Field(description="models attacked through their softmax response")
    mc_dropout: list[ModelRef] = Field(description="models attacked through MC-Dropout (they need dropout > 0)")
    mc_dropout_T: int = 10
    ensemble: list[ModelRef] = Field(description="the M members of the deep ensemble")
    selectivenet: list[ModelRef] = Field(description="models of arch selectivenet")
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
        for key in self.ESTIMATORS:
            if not getattr(self, key):
                raise ValueError(f"uncertainty.{key}: list at least one model")
        return self

    ESTIMATORS: ClassVar[tuple[str, ...]] = ("softmax", "mc_dropout", "selectivenet")  # one ace_<estimator>@<model> stage per entry

    @property
    def cases(self) -> list[str]:
        """The ACE cases, named as their result files: ``<estimator>_<model>``, then ``ensemble``."""
        return [f"{est}_{m}" for est in self.ESTIMATORS for m in getattr(self, est)] + (["ensemble"] if self.ensemble else [])

    def check_refs(self, p) -> None:
        for key in ("softmax", "mc_dropout", "ensemble", "selectivenet"):
            if self.proxy in getattr(self, key):
                raise ValueError(f"uncertainty.{key}: {self.proxy!r} is also uncertainty.proxy; black-box ACE "
                                 f"needs a proxy the attacker trained separately")
        for name in self.mc_dropout:
            m = p.models[name]
            if not arch_has_dropout(m.arch, m.options):
                raise ValueError(f"uncertainty.mc_dropout: model {name!r} has no dropout (arch "
                                 f"{m.arch}, options.dropout = {m.options.get('dropout', 0.0)}); MC-Dropout needs "
                                 f"models.{name}.options.dropout > 0, or attack it under softmax only")
        for name in self.selectivenet:
            m = p.models[name]
            if not arch_is_selective(m.arch, m.options) or m.train.objective != "selectivenet":
                raise ValueError(f"uncertainty.selectivenet: model {name!r} has arch {m.arch!r} and objective "
                                 f"{m.train.objective!r}; SelectiveNet needs arch 'selectivenet' trained with "
                                 f"objective 'selectivenet'")
