"""Checkpoints: safetensors weights plus a JSON sidecar; nothing is loaded with pickle.

The sidecar holds what rebuilds the model (architecture, input shape, classes,
options) and what describes it (params, metrics, split-plan hash). It is bound to its
weights and to its model: it records the sha256 of ``model.safetensors`` and the
model's name (:func:`model_name`: ``ens_0`` for ``models/ens_0``,
``membership/targets/base`` for ``models/membership/targets/base``), and
:func:`load_model` refuses weights or a sidecar swapped between two models.
"""

from __future__ import annotations

import hashlib
import os
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


def model_name(folder) -> str:
    """The name a model folder is known by: its path below the innermost ``models`` folder
    (``ens_0``, ``membership/shadows/003``), else the folder's own name."""
    parts = Path(os.path.abspath(folder)).parts
    below = [i for i, part in enumerate(parts[:-1]) if part == "models"]
    return "/".join(parts[below[-1] + 1:]) if below else parts[-1]


def _stage(name: str) -> str | None:
    parts = name.split("/")
    if len(parts) == 3 and parts[0] == "membership" and parts[1] in ("shadows", "references", "targets"):
        return f"mia_train@{parts[1]}"
    return f"train@{name}" if len(parts) == 1 else None


def train_stage(folder) -> str:
    """The dvc.yaml stage that trains the model in ``folder``: ``mia_train@<kind>`` for the
    membership family's ``models/membership/<kind>/<name>``, else ``train@<name>``."""
    return _stage(model_name(folder)) or f"train@{Path(folder).name}"


def retrain_hint(name: str) -> str:
    """How to rebuild the model ``name`` (see :func:`model_name`): the stage that trains it."""
    stage = _stage(name)
    return f"rerun `dvc repro -f {stage}`" if stage else "rerun the stage that trains it (dvc repro)"


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_model(folder, model: Classifier, spec: dict, extra: dict | None = None, *, name: str | None = None) -> None:
    """Write ``model.safetensors`` then ``model.json`` (the sidecar last: it marks completion).

    The sidecar records the model's ``name`` (default :func:`model_name` of ``folder``) and
    the ``weights_sha256`` of the weights file, which :func:`load_model` checks."""
    folder = Path(folder)
    save_tensors(folder / WEIGHTS, model.state_dict())
    binding = {"name": name or model_name(folder), "weights_sha256": file_sha256(folder / WEIGHTS)}
    write_json(folder / SIDECAR, {"spec": spec, **(extra or {}), **binding})


def weights_match(folder, sidecar: dict) -> bool:
    """Whether ``folder``'s weights file is the one ``sidecar`` records (its sha256)."""
    weights = Path(folder) / WEIGHTS
    return weights.is_file() and sidecar.get("weights_sha256") == file_sha256(weights)


def load_model(folder, device: str | torch.device = "cpu", *, name: str | None = None) -> tuple[Classifier, dict]:
    """Rebuild a model from its sidecar and load its weights; returns (model in eval mode, sidecar).

    ``name`` (default :func:`model_name` of ``folder``) must be the name the sidecar
    records, and the weights file must have the sha256 it records: weights or a sidecar
    swapped between two models, even of one architecture, are an error naming the folder.
    The model keeps the channels-last layout that ``build_model`` gives it."""
    folder = Path(folder)
    name = name or model_name(folder)
    hint = retrain_hint(name)
    try:
        sidecar = read_json(folder / SIDECAR)
        spec = sidecar["spec"]
        arch, shape, classes, options = spec["arch"], spec["input_shape"], spec["num_classes"], dict(spec["options"])
    except FileNotFoundError:
        raise AdvlabError(f"{folder / SIDECAR}: model sidecar not found; {hint}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise AdvlabError(f"{folder / SIDECAR}: unreadable model sidecar ({type(err).__name__}: {err}); {hint}") from None
    if "name" not in sidecar or "weights_sha256" not in sidecar:
        raise AdvlabError(f"{folder / SIDECAR}: the sidecar records no model name or weights hash (written before "
                          f"checkpoints were bound to them); {hint}")
    if sidecar["name"] != name:
        raise AdvlabError(f"{folder / SIDECAR}: the sidecar belongs to model {sidecar['name']!r}, not {name!r} "
                          f"(swapped or copied between model folders?); {hint}")
    try:
        model = build_model(arch, shape, classes, **options)
    except (AdvlabError, ValueError, KeyError, TypeError, RuntimeError, AssertionError, ArithmeticError) as err:
        raise AdvlabError(f"{folder / SIDECAR}: cannot build the model it describes ({type(err).__name__}: {err}); "
                          f"{hint}") from None
    state = load_tensors(folder / WEIGHTS, hint)
    if not weights_match(folder, sidecar):
        raise AdvlabError(f"{folder / WEIGHTS}: the weights are not the ones {SIDECAR} records (sha256 "
                          f"{file_sha256(folder / WEIGHTS)[:12]}…, recorded {str(sidecar.get('weights_sha256'))[:12]}…):"
                          f" swapped or modified; {hint}")
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
