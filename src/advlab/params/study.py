"""The whole file: the top-level ``Params`` (spine sections plus each family's), and the
entry points that read and validate ``params.yaml``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError, model_validator

from advlab.errors import AdvlabError
from advlab.params.calibration import CalibrationParams
from advlab.params.compute import ComputeParams
from advlab.params.core import Name, NonNegInt, Strict
from advlab.params.evasion import EvasionParams
from advlab.params.membership import MembershipParams
from advlab.params.spine import (DataParams, EvaluateParams, IntervalParams, ModelParams, OutputParams, SplitParams, input_shape,
                                 option_problems)
from advlab.params.uncertainty import UncertaintyParams

PARAMS_FILE = Path("params.yaml")
FAMILIES = ("membership", "calibration", "evasion", "uncertainty")


class Params(Strict):
    seed: NonNegInt = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute: ComputeParams = ComputeParams()
    data: DataParams = DataParams()
    split: SplitParams
    models: dict[Name, ModelParams]
    evaluate: EvaluateParams = EvaluateParams()
    reports: list[Literal["models", *FAMILIES]] = ["models"]
    output: OutputParams = OutputParams()
    intervals: IntervalParams = IntervalParams()
    membership: MembershipParams | None = None
    calibration: CalibrationParams | None = None
    evasion: EvasionParams | None = None
    uncertainty: UncertaintyParams | None = None

    @model_validator(mode="after")
    def _cross_refs(self) -> "Params":
        if not self.models:
            raise ValueError("models: list at least one model")
        shape = input_shape(self.data.dataset)
        for name, model in self.models.items():  # what needs the dataset's image size (e.g. ViT patches)
            problems = option_problems(model.arch, model.options, shape)
            if problems:
                raise ValueError(f"models.{name}.options.{problems[0]} for dataset {self.data.dataset}")
        for family in FAMILIES:
            section = getattr(self, family)
            if section is not None:
                section.check_refs(self)
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
            sub = re.match(r"([A-Za-z_][\w.]*): (.*)", msg, re.S)  # a validator naming a key below loc
            if sub:
                loc = sub[1] if loc == "(top level)" else f"{loc}.{sub[1]}"
                msg = sub[2]
            got = repr(e["input"])
            show = e["loc"] and len(got) <= 80 and "(got " not in msg  # a validator may show the value itself
            lines.append(f"  {loc}: {msg}" + (f" (got {got})" if show else ""))
    return "\n".join(lines)


def validate(raw: Any, source: str = "params") -> Params:
    """Validate a parsed params mapping; raise :class:`AdvlabError` naming every bad key."""
    if not isinstance(raw, dict):
        raise AdvlabError(f"{source}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    models = raw.get("models")
    context = {"models": list(models)} if isinstance(models, dict) else None
    try:
        return Params.model_validate(raw, context=context)
    except ValidationError as err:
        raise AdvlabError(_format(err, source)) from None


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise AdvlabError(f"{path}: params file not found (run from the repository root, or write one with "
                          "`advlab profile default`)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise AdvlabError(f"{path}: not valid YAML: {err}") from None
    if raw is None:
        raise AdvlabError(f"{path}: the params file is empty; write one with `advlab profile default` "
                          "(or `advlab profile tiny`)")
    return raw


def load(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate ``params.yaml`` (or another params file)."""
    return validate(read_yaml(path), str(path))
