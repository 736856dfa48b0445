import pytest
import torch

from advlab.training.early_stopping import EarlyStopping, StopTraining
from advlab.training.loop import fit
from advlab.training.objectives import make_objective

from .test_loop import CFG, data, model


def _run(x, y, val, cfg, folder=None, kill_at=None):
    m = model()
    stopper = EarlyStopping(m, patience=2, folder=folder, key="k")

    def hook(epoch, row):
        stopper(epoch, row)
        if epoch == kill_at:  # the worst moment: the stopper has saved, the epoch checkpoint not yet
            raise KeyboardInterrupt

    try:
        fit(m, x, y, cfg, make_objective("standard"), seed=3, val=val, resume_dir=folder, resume_key="k",
            on_epoch_end=hook)
    except StopTraining:
        pass
    stopper.restore()
    return m, stopper


def test_early_stopping_survives_a_kill_after_its_best_epoch(tmp_path, digits):
    torch.set_num_threads(1)
    x, y = data(digits, 300)
    xv, yv = data(digits, 600)
    # shuffled validation labels: the validation NLL rises as the model fits, so the best epoch is early
    val = (xv[300:], yv[300:][torch.randperm(300, generator=torch.Generator().manual_seed(0))])
    cfg = CFG.model_copy(update={"epochs": 8})
    ref, s_ref = _run(x, y, val, cfg)
    kill = s_ref.best_epoch + 1
    assert s_ref.summary()["epochs_run"] == s_ref.best_epoch + 2 <= cfg.epochs  # it did stop early
    with pytest.raises(KeyboardInterrupt):
        _run(x, y, val, cfg, tmp_path, kill_at=kill)
    resumed, s_res = _run(x, y, val, cfg, tmp_path)
    assert s_res.summary() == s_ref.summary()
    assert [r["epoch"] for r in s_res.rows] == list(range(1, s_ref.best_epoch + 3))
    for (k, a), b in zip(ref.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


def test_other_settings_start_a_fresh_record(tmp_path, digits):
    x, y = data(digits, 100)
    m = model()
    first = EarlyStopping(m, patience=1, folder=tmp_path, key="a")
    first(1, {"epoch": 1, "val_nll": 0.5})
    assert EarlyStopping(m, patience=1, folder=tmp_path, key="a").best_epoch == 1
    assert EarlyStopping(m, patience=1, folder=tmp_path, key="b").best_epoch == 0
    with pytest.raises(StopTraining):
        first(2, {"epoch": 2, "val_nll": 0.7})
