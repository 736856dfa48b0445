"""The evasion family's section (SPEC §2): attacks, defenses, certification, poisoning, detection."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from advlab.params.names import DetectorName, detector_names
from advlab.params.core import ModelRef, Name, NonNegInt, PosInt, Prob, Strict, merge_train, one_of


class EvasionAttackParams(Strict):
    """One evasion attack run by ``evasion@<model>``: an engine attack and its settings."""

    attack: str = Field(description="an engine attack that can misclassify (a search of advlab.attacks.ATTACKS "
                                    "allowing a 'misclassify' objective)")
    eps: Annotated[float, Field(gt=0.0)]
    norm: Literal["linf", "l2"] = "linf"
    params: dict[str, Any] = Field({}, description="engine parameters (steps, n_queries, ...)")
    n: PosInt | None = Field(None, description="evaluate on the first n of evasion.n_eval (None: all)")
    models: list[ModelRef] | None = Field(None, description="run on these targets only (None: every evasion.models)")

    @model_validator(mode="after")
    def _check(self) -> "EvasionAttackParams":
        from advlab.attacks import ATTACKS, OBJECTIVES

        allowed = [a for a in ATTACKS.names()
                   if any(OBJECTIVES.meta(o)["family"] == "misclassify" for o in ATTACKS.get(a).allowed_objectives())]
        if self.attack not in allowed:
            raise ValueError(f"attack {self.attack!r} is unknown here; allowed: {', '.join(allowed)}")
        spec = ATTACKS.get(self.attack)
        if self.norm not in spec.norms:
            raise ValueError(f"norm {self.norm!r} is not supported by {self.attack}; allowed: {list(spec.norms)}")
        if self.norm == "linf" and self.eps > 1.0:
            raise ValueError(f"eps {self.eps} is outside the data range: an L∞ budget must be in (0, 1]")
        bad = sorted(set(self.params) - (set(spec.defaults) - {"surrogate"}) - {"objective"})
        if bad:
            raise ValueError(f"params {bad} are unknown for attack {self.attack!r}; allowed: "
                             f"{sorted(set(spec.defaults) - {'surrogate'})}")
        from advlab.errors import AdvlabError

        for k, v in self.params.items():  # the engine's own up-front checks of each value
            if k in spec.validators:
                try:
                    spec.validators[k](v)
                except AdvlabError as e:
                    raise ValueError(str(e)) from None
        return self


def _transforms() -> list[str]:
    from advlab.defenses.transforms import TRANSFORMS

    return TRANSFORMS.names()


class EvasionDefenseParams(Strict):
    """An inference-time defense in front of ``evasion.defense_model``, attacked naively and adaptively."""

    kind: Annotated[str, one_of(_transforms, "defense kind")] = Field(
        description="an input transform of advlab.defenses.TRANSFORMS")
    options: dict[str, Any] = {}


class CertifyParams(Strict):
    """Randomized smoothing CERTIFY (Cohen et al. 2019) on noise-trained models."""

    models: list[ModelRef] = Field([], description="noise-trained models (objective gaussian_noise); sigma = their training sigma")
    n0: PosInt = 100
    n: PosInt = 1000
    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.001
    n_eval: PosInt = 200
    batch_size: PosInt = 1000
    max_radius: Annotated[float, Field(gt=0.0)] = 2.0


class PoisoningParams(Strict):
    """Label flipping and BadNets sweeps; each rate trains one model with ``models.<model>``'s recipe."""

    model: ModelRef = "cnn"
    train: dict[str, Any] = Field({}, description="overrides of models.<model>.train (e.g. epochs, max_members)")
    label_flip_rates: list[Prob] = [0.0, 0.1, 0.2, 0.4]
    backdoor_rates: list[Prob] = [0.0, 0.01, 0.05, 0.1]
    target_class: NonNegInt = 0
    patch_size: PosInt = 3
    patch_value: Prob = 1.0

    @field_validator("label_flip_rates", "backdoor_rates")
    @classmethod
    def _rates(cls, v: list[float]) -> list[float]:  # one ``<kind>_rates`` list per poisoning kind
        if not v or any(r >= 1.0 for r in v):
            raise ValueError(f"list at least one rate, each in [0, 1); got {v}")
        return v


class DetectionParams(Strict):
    """Detection AUROC of each detector against each evasion attack's examples."""

    model: ModelRef = "cnn"
    attacks: list[str] = Field([], description="names under evasion.attacks")
    detectors: list[DetectorName] = Field(default_factory=detector_names)
    fit_size: PosInt = 2000
    squeeze_bits: Annotated[int, Field(ge=1, le=8)] = 1
    lid_k: PosInt = 20


class EvasionParams(Strict):
    """The evasion family (SPEC §2): attacks, defenses, certification, poisoning, detection."""

    models: list[ModelRef] = Field(description="targets attacked by every attack (names under models)")
    n_eval: PosInt = 500
    batch_size: PosInt = 500
    attacks: dict[Name, EvasionAttackParams]
    surrogate: ModelRef = Field("resnet", description="the attacker's own model (another architecture) for transfer attacks")
    sweep_eps: list[Annotated[float, Field(gt=0.0, le=1.0)]] = [0.02, 0.05, 0.1, 0.15, 0.2]
    sweep_steps: PosInt = 20
    defense_model: ModelRef = "cnn"
    defenses: dict[Name, EvasionDefenseParams] = {}
    defense_eps: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    defense_steps: PosInt = 40
    eot_samples: PosInt = 10
    defense_n: PosInt = 300
    certify: CertifyParams = CertifyParams()
    poisoning: PoisoningParams = PoisoningParams()
    detection: DetectionParams = Field(default_factory=DetectionParams)  # built on use: its defaults read registries

    @model_validator(mode="after")
    def _check(self) -> "EvasionParams":
        missing = [a for a in self.detection.attacks if a not in self.attacks]
        if missing:
            raise ValueError(f"evasion.detection.attacks names {missing}, which are not under evasion.attacks "
                             f"(have {', '.join(self.attacks)})")
        if self.surrogate in self.models:
            raise ValueError(f"evasion.surrogate: {self.surrogate!r} is also a target in evasion.models; the surrogate "
                             f"is the attacker's own model, pick one that is not attacked")
        if self.detection.attacks and self.detection.model not in self.models:
            raise ValueError(f"evasion.detection.model {self.detection.model!r} must be one of evasion.models "
                             f"(the detectors read its adversarial examples)")
        return self

    def check_refs(self, p) -> None:
        for m in self.certify.models:
            if p.models[m].train.objective != "gaussian_noise":
                raise ValueError(f"evasion.certify.models: {m!r} has training objective "
                                 f"{p.models[m].train.objective!r}; randomized smoothing needs a base model trained "
                                 f"with objective gaussian_noise (its sigma is the smoothing sigma)")
        merge_train(p.models[self.poisoning.model].train, self.poisoning.train, where="evasion.poisoning.train")
