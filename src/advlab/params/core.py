"""What every family's params module shares: the strict base model, number types, the
``Name`` and ``ModelRef`` types, and the one train-override merge.

``ModelRef`` checks a model name against the ``models:`` mapping of the file being
validated (passed as pydantic's validation context by :func:`advlab.params.validate`),
so "must be under models" is written here once for every family.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo

PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
Prob = Annotated[float, Field(ge=0.0, le=1.0)]
OpenProb = Annotated[float, Field(gt=0.0, lt=1.0)]
UnitEps = Annotated[float, Field(gt=0.0, le=1.0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _name(v: str) -> str:
    if not v.replace("_", "").isalnum():
        raise ValueError(f"name {v!r} must be letters, digits and underscores")
    return v


def _model_ref(v: str, info: ValidationInfo) -> str:
    models = (info.context or {}).get("models")
    if models is not None and v not in models:
        raise ValueError(f"model {v!r} is not under models (have {', '.join(models)})")
    return v


Name = Annotated[str, AfterValidator(_name)]
"""A user-chosen name (a model, target, attack or defense): letters, digits, underscores."""

ModelRef = Annotated[str, AfterValidator(_model_ref)]
"""The name of an entry under ``models:``."""


def one_of(known, what: str) -> AfterValidator:
    """A validator: the value must be one of ``known()`` (a registry's names, looked up lazily)."""

    def check(v: str) -> str:
        if v not in (names := known()):
            raise ValueError(f"{what} {v!r} is unknown; known: {', '.join(names)}")
        return v

    return AfterValidator(check)


def first_error(err: ValidationError) -> str:
    e = err.errors()[0]
    msg = e["msg"].removeprefix("Value error, ")
    return f"{'.'.join(map(str, e['loc']))}: {msg} (got {e.get('input')!r})"


def merge_train(base, *overrides: dict[str, Any], where: str):
    """``base`` (a TrainParams) with ``overrides`` applied in order, validated as a TrainParams;
    a bad override raises ``ValueError`` naming ``where``."""
    merged = base.model_dump()
    for o in overrides:
        merged.update(o)
    try:
        return type(base).model_validate(merged)
    except ValidationError as err:
        raise ValueError(f"{where}: {first_error(err)}") from None
