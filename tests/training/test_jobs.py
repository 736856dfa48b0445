"""One place trains a recipe on given examples from a seed: determinism, the key, reuse, resume folders."""

import json

import numpy as np
import torch

from advlab.params import EarlyStoppingParams, TrainParams
from advlab.training.jobs import Job, Recipe, train_job


def _recipe(**over) -> Recipe:
    train = TrainParams(epochs=2, batch_size=32, optimizer="adam", lr=0.01, augment=[])
    return Recipe("small_cnn", {"width": 4, "hidden": 16}, train, **over)


def test_same_job_same_weights_and_key_tracks_seed_index_and_recipe(digits, tmp_path):
    idx = np.arange(120)
    a, b = Job(digits, idx, _recipe(), seed=3, plan_hash="p"), Job(digits, idx, _recipe(), seed=3, plan_hash="p")
    assert a.key == b.key
    assert Job(digits, idx, _recipe(), seed=4, plan_hash="p").key != a.key
    assert Job(digits, idx[1:], _recipe(), seed=3, plan_hash="p").key != a.key
    assert Job(digits, idx, _recipe(), seed=3, plan_hash="q").key != a.key
    ta = a.run(device="cpu", resume_dir=None, desc="a")
    tb = b.run(device="cpu", resume_dir=None, desc="b")
    for pa, pb in zip(ta.model.parameters(), tb.model.parameters()):
        assert torch.equal(pa, pb)
    assert len(ta.result.history) == 2 and 0.0 <= ta.train_eval["accuracy"] <= 1.0


def test_train_job_saves_then_reuses_and_clears_its_resume_folder(digits, tmp_path):
    job = Job(digits, np.arange(100), _recipe(), seed=0, plan_hash="p")
    folder, resume = tmp_path / "m", tmp_path / "ckpt"
    metrics, trained = train_job(job, folder, device="cpu", resume_dir=resume, desc="t")
    assert trained is not None and not resume.exists()
    side = json.loads((folder / "model.json").read_text())
    assert side["train_key"] == job.key and side["metrics"]["examples"] == 100 and side["params"]["arch"] == "small_cnn"
    again, trained2 = train_job(Job(digits, np.arange(100), _recipe(), seed=0, plan_hash="p"), folder, device="cpu",
                                resume_dir=resume, desc="t")
    assert trained2 is None and again["reused"] is True and again["train_accuracy"] == metrics["train_accuracy"]
    other, trained3 = train_job(Job(digits, np.arange(100), _recipe(), seed=1, plan_hash="p"), folder, device="cpu",
                                resume_dir=resume, desc="t")
    assert trained3 is not None and "reused" not in other and not resume.exists()
    assert json.loads((folder / "model.json").read_text())["train_key"] != job.key  # the new job's model replaced it


def test_early_stopping_recipe_needs_validation_and_reports_its_epoch(digits):
    x_idx, v_idx = np.arange(150), np.arange(150, 250)
    from advlab.data.prepared import to_tensors

    job = Job(digits, x_idx, _recipe(early_stopping=EarlyStoppingParams(patience=1)), seed=0, plan_hash="p")
    t = job.run(device="cpu", resume_dir=None, desc="es", val=to_tensors(digits, v_idx))
    es = t.extra["early_stopping"]
    assert 1 <= es["best_epoch"] <= es["epochs_run"] <= 2


def test_a_damaged_swapped_or_edited_checkpoint_is_retrained_not_reused(digits, tmp_path):
    import shutil

    def job(seed=0):
        return Job(digits, np.arange(60), _recipe(), seed=seed, plan_hash="p")

    a, b = tmp_path / "models" / "a", tmp_path / "models" / "b"
    train_job(job(), a, device="cpu", resume_dir=tmp_path / "ra", desc="a")
    train_job(job(1), b, device="cpu", resume_dir=tmp_path / "rb", desc="b")
    assert job().saved(a) is not None
    weights = a / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[:-10])  # truncated
    assert job().saved(a) is None
    shutil.copy(b / "model.safetensors", weights)  # another model's weights
    assert job().saved(a) is None
    weights.write_bytes(good)
    side = json.loads((a / "model.json").read_text())
    side["spec"]["options"]["width"] = -1  # an edited sidecar
    (a / "model.json").write_text(json.dumps(side))
    assert job().saved(a) is None
    (a / "model.json").write_text("{")
    assert job().saved(a) is None
    _, trained = train_job(job(), a, device="cpu", resume_dir=tmp_path / "ra", desc="a")
    assert trained is not None and job().saved(a) is not None


def test_a_job_that_stops_early_reports_the_epochs_it_ran(digits):
    """The StopTraining path (it once read the job's dropped tensors): validation labels unrelated to
    the images make the validation loss rise within a few epochs, so patience 1 stops the run."""
    from advlab.data.prepared import to_tensors

    x_idx, v_idx = np.arange(150), np.arange(150, 250)
    xv, yv = to_tensors(digits, v_idx)
    yv = yv[torch.randperm(len(yv), generator=torch.Generator().manual_seed(0))]
    train = TrainParams(epochs=12, batch_size=32, optimizer="adam", lr=0.01, augment=[])
    recipe = Recipe("small_cnn", {"width": 4, "hidden": 16}, train, early_stopping=EarlyStoppingParams(patience=1))
    t = Job(digits, x_idx, recipe, seed=0, plan_hash="p").run(device="cpu", resume_dir=None, desc="es", val=(xv, yv))
    es = t.extra["early_stopping"]
    assert es["epochs_run"] < 12, es  # it stopped
    assert len(t.result.history) == es["epochs_run"]
    assert t.result.samples_seen == 150 * es["epochs_run"]
