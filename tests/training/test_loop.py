import os
import signal
import subprocess
import sys
import textwrap

import pytest
from pydantic import ValidationError
import torch

from advlab.data.augment import random_crop, shift
from advlab.models.zoo import build_model
from advlab.params import TrainParams
from advlab.training.loop import DEVICE_FRACTION, fit, lr_factor, place_examples, placement, quick_eval
from advlab.training.objectives import make_objective
from advlab.errors import AdvlabError

CFG = TrainParams(epochs=4, batch_size=32, optimizer="adam", lr=0.01, schedule="warmup_cosine", augment=["crop"])


def data(digits, n=600):
    x = torch.from_numpy(digits.images[:n]).float() / 255
    return x, torch.from_numpy(digits.labels[:n])


def model():
    torch.manual_seed(0)
    return build_model("small_cnn", (1, 8, 8), 10, width=8, hidden=32, dropout=0.1)


def test_training_learns_and_is_deterministic(digits):
    x, y = data(digits)
    a, b = model(), model()
    before = quick_eval(a, x, y)["accuracy"]
    ra = fit(a, x, y, CFG, make_objective("standard"), seed=3)
    fit(b, x, y, CFG, make_objective("standard"), seed=3)
    after = quick_eval(a, x, y)["accuracy"]
    assert after > max(0.6, before + 0.3)
    assert ra.history[-1]["train_loss"] < ra.history[0]["train_loss"]
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys, torch
    sys.path.insert(0, {tests!r})
    from training.test_loop import CFG, data, model
    from advlab.data.sources import load_dataset
    from advlab.training.loop import fit
    from advlab.training.objectives import make_objective
    from advlab.models.checkpoint import save_tensors
    x, y = data(load_dataset("digits"))
    m = model()
    def die(epoch, row):
        if epoch == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
    fit(m, x, y, CFG, make_objective("standard"), seed=3, resume_dir=sys.argv[1], resume_key="k", on_epoch_end=die)
    save_tensors(sys.argv[1] + "/final.safetensors", m.state_dict())
""")


def test_killed_run_resumes_to_identical_weights(tmp_path, digits):
    tests = os.path.dirname(os.path.dirname(__file__))
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.format(tests=tests))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed = subprocess.run([sys.executable, str(script), str(tmp_path / "ck"), "2"], env=env)
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "ck" / "state.json").is_file()
    subprocess.run([sys.executable, str(script), str(tmp_path / "ck"), "0"], env=env, check=True)
    from safetensors.torch import load_file

    resumed = load_file(str(tmp_path / "ck" / "final.safetensors"))
    torch.set_num_threads(1)  # same threading as the subprocesses, for bitwise equality
    x, y = data(digits)
    m = model()
    fit(m, x, y, CFG, make_objective("standard"), seed=3)
    for k, v in m.state_dict().items():
        assert torch.equal(resumed[k], v), k


def test_resume_with_other_settings_starts_over(tmp_path, digits):
    x, y = data(digits, 200)
    fit(model(), x, y, CFG.model_copy(update={"epochs": 1}), make_objective("standard"), resume_dir=tmp_path, resume_key="a")
    with pytest.warns(UserWarning, match="other settings"):
        r = fit(model(), x, y, CFG.model_copy(update={"epochs": 1}), make_objective("standard"),
                resume_dir=tmp_path, resume_key="b")
    assert len(r.history) == 1


def test_corrupt_resume_checkpoint_is_discarded_with_a_warning(tmp_path, digits):
    x, y = data(digits, 200)
    cfg = CFG.model_copy(update={"epochs": 1})
    fit(model(), x, y, cfg, make_objective("standard"), resume_dir=tmp_path, resume_key="a")
    for f in tmp_path.glob("epoch*.safetensors"):
        f.write_bytes(b"broken")
    with pytest.warns(UserWarning, match="unusable resume checkpoint"):
        r = fit(model(), x, y, cfg.model_copy(update={"epochs": 2}), make_objective("standard"),
                resume_dir=tmp_path, resume_key="a")
    assert [h["epoch"] for h in r.history] == [1, 2]


def test_diverging_loss_is_reported(digits):
    x, y = data(digits, 128)
    bad = CFG.model_copy(update={"lr": 10.0, "optimizer": "sgd", "schedule": "constant", "epochs": 3})
    with pytest.raises(AdvlabError, match="lower the learning rate"):
        m = model()
        with torch.no_grad():
            m.backbone.head.weight.mul_(1e30)
        fit(m, x, y, bad, make_objective("standard"))


def test_lr_schedules():
    assert lr_factor("constant", 0.7, 0.1) == 1.0
    assert lr_factor("cosine", 0.0, 0.1) == pytest.approx(1.0)
    assert lr_factor("cosine", 1.0, 0.1) == pytest.approx(0.0)
    assert lr_factor("warmup_cosine", 0.05, 0.1) < lr_factor("warmup_cosine", 0.1, 0.1) == pytest.approx(1.0)
    assert lr_factor("warmup_cosine", 0.0, 0.1) == 0.04 and lr_factor("warmup_cosine", 1.0, 0.1) == pytest.approx(0.0)


def test_the_old_schedule_name_says_its_new_name():
    with pytest.raises(ValidationError, match="renamed to 'warmup_cosine'"):
        TrainParams(epochs=1, schedule="onecycle")


def test_shift_and_crop():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float).view(2, 1, 4, 4)
    out = shift(x, torch.tensor([1, 0]), torch.tensor([0, -1]), pad=1)
    torch.testing.assert_close(out[0, 0, :3], x[0, 0, 1:])  # moved up by one row
    assert (out[0, 0, 3] == 0).all()
    torch.testing.assert_close(out[1, 0, :, 1:], x[1, 0, :, :3])
    assert random_crop(torch.rand(5, 3, 8, 8)).shape == (5, 3, 8, 8)


def test_examples_are_placed_by_device_and_free_memory():
    cuda = torch.device("cuda")  # a device object only: nothing is allocated
    assert placement(10**9, torch.device("cpu"), None) == "as_is"
    assert placement(10**9, cuda, int(10**9 / DEVICE_FRACTION)) == "device"
    assert placement(10**9 + 1, cuda, int(10**9 / DEVICE_FRACTION)) == "pinned"
    assert placement(1, cuda, None) == "pinned"
    x, y = torch.rand(4, 1, 8, 8), torch.arange(4)
    px, py, where = place_examples(x, y, torch.device("cpu"))
    assert where == "as_is" and px is x and py is y  # the CPU path does not even copy


def test_a_loss_that_turns_nan_fails_naming_its_epoch(digits):
    x, y = data(digits, 128)
    calls, epochs = [0], []
    standard = make_objective("standard")

    def turns_nan(m, xb, yb):  # 4 steps per epoch: the 6th call is in epoch 2
        calls[0] += 1
        loss = standard(m, xb, yb)
        return loss * float("nan") if calls[0] == 6 else loss

    with pytest.raises(AdvlabError, match="the loss became nan at epoch 2; lower the learning rate"):
        fit(model(), x, y, CFG, turns_nan, on_epoch_end=lambda e, row: epochs.append(e))
    assert epochs == [1]


def test_bf16_autocast_trains_and_fp32_stays_out_of_the_key(digits):
    x, y = data(digits)
    dtypes = []
    standard = make_objective("standard")

    def spy(m, xb, yb):
        dtypes.append(m(xb).dtype)
        return standard(m, xb, yb)

    a, b = model(), model()
    fit(a, x, y, CFG.model_copy(update={"precision": "bf16"}), spy, seed=3)
    assert set(dtypes) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in a.parameters())  # master weights stay fp32
    assert quick_eval(a, x, y)["accuracy"] > 0.6
    dtypes.clear()
    fit(b, x, y, CFG, spy, seed=3)
    assert set(dtypes) == {torch.float32}
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    # fp32 (the default) is left out of the dump, so no existing model's training key moves
    assert "precision" not in CFG.model_dump()
    assert CFG.model_copy(update={"precision": "bf16"}).model_dump()["precision"] == "bf16"
    with pytest.raises(ValidationError, match="precision"):
        TrainParams(epochs=1, precision="fp16")
