"""Checkpoints: safetensors weights plus a JSON sidecar; nothing is loaded with pickle.

The sidecar holds what rebuilds the model (architecture, input shape, classes,
options) and what describes it (params, metrics, split-plan hash).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from advlab.errors import AdvlabError
from advlab.io import atomic_path, read_json, write_json
from advlab.models.zoo import Classifier, build_model

WEIGHTS, SIDECAR = "model.safetensors", "model.json"


def save_tensors(path, tensors: dict[str, torch.Tensor]) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))


def load_tensors(path, hint: str) -> dict[str, torch.Tensor]:
    """Load a safetensors file; a missing, truncated or corrupt file gives one clear message."""
    path = Path(path)
    if not path.is_file():
        raise AdvlabError(f"{path}: checkpoint not found; {hint}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise AdvlabError(f"{path}: checkpoint is corrupt or truncated ({err}); {hint}") from None


def save_model(folder, model: Classifier, spec: dict, extra: dict | None = None) -> None:
    """Write ``model.safetensors`` then ``model.json`` (the sidecar last: it marks completion)."""
    folder = Path(folder)
    save_tensors(folder / WEIGHTS, model.state_dict())
    write_json(folder / SIDECAR, {"spec": spec, **(extra or {})})


MIA_KINDS = ("shadows", "references", "targets")  # the mia_train@<kind> stages (dvc.yaml)


def train_stage(folder) -> str:
    """The dvc.yaml stage that trains the model in ``folder``: ``mia_train@<kind>`` for the
    membership family's ``models/membership/<kind>/<name>``, else ``train@<name>``."""
    parts = Path(folder).parts
    if len(parts) >= 3 and parts[-2] in MIA_KINDS and parts[-3] == "membership":
        return f"mia_train@{parts[-2]}"
    return f"train@{Path(folder).name}"


def load_model(folder, device: str | torch.device = "cpu") -> tuple[Classifier, dict]:
    """Rebuild a model from its sidecar and load its weights; returns (model in eval mode, sidecar).

    The model keeps the channels-last layout that ``build_model`` gives it."""
    folder = Path(folder)
    hint = f"rerun the stage that trains it (`dvc repro -f {train_stage(folder)}`)"
    try:
        sidecar = read_json(folder / SIDECAR)
        spec = sidecar["spec"]
        model = build_model(spec["arch"], spec["input_shape"], spec["num_classes"], **dict(spec["options"]))
    except FileNotFoundError:
        raise AdvlabError(f"{folder / SIDECAR}: model sidecar not found; {hint}") from None
    except (ValueError, KeyError, TypeError) as err:
        raise AdvlabError(f"{folder / SIDECAR}: unreadable model sidecar ({err}); {hint}") from None
    state = load_tensors(folder / WEIGHTS, hint)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise AdvlabError(f"{folder / WEIGHTS}: weights do not fit the architecture in the sidecar ({err}); {hint}") from None
    return model.to(device).eval(), sidecar


def load_trained(name: str, plan_hash: str, device: str | torch.device = "cpu", root: Path = Path("models")):
    """The pipeline model ``models/<name>`` in eval mode, checked against the current split plan.

    A model trained on another plan is an error: its members and non-members, and so
    every privacy and calibration number computed on it, would be wrong.
    """
    model, sidecar = load_model(Path(root) / name, device)
    if sidecar.get("plan_hash") != plan_hash:
        raise AdvlabError(f"{Path(root) / name} was trained on split plan {sidecar.get('plan_hash')} but the current "
                          f"plan is {plan_hash}; rerun `dvc repro train@{name}`")
    return model, sidecar
