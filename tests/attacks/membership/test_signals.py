import json

import numpy as np
import pytest
import torch
from torch import nn

from advlab.attacks.membership import (
    DEFAULT_QUERIES,
    Signals,
    apply_query,
    check_same_plan,
    compute_logits,
    compute_signals,
    concat_models,
    query_problem,
    training_queries,
)
from advlab.errors import AdvlabError

from .synth import synth


def _signals(plan="plan-a", seed=0):
    logits, labels, keep = synth(n=12, k=4, m=3, q=2, seed=seed)
    return Signals(logits, labels, keep, plan, {"split": "target"})


def test_save_load_roundtrip(tmp_path):
    s = _signals()
    path = s.save(tmp_path / "sig")
    assert path.suffix == ".npz" and (tmp_path / "sig.json").is_file()
    back = Signals.load(path)
    np.testing.assert_array_equal(back.logits, s.logits)
    np.testing.assert_array_equal(back.labels, s.labels)
    np.testing.assert_array_equal(back.keep, s.keep)
    assert back.plan_hash == "plan-a" and back.meta == {"split": "target"} and back.source == str(path)
    assert back.logits.dtype == np.float32 and back.keep.dtype == np.bool_
    with np.load(path, allow_pickle=False) as z:  # nothing in the file needs pickle
        assert set(z.files) == {"logits", "labels", "keep", "plan_hash"}
    assert json.loads((tmp_path / "sig.json").read_text())["plan_hash"] == "plan-a"
    assert not list(tmp_path.glob("*.tmp"))


def test_plan_hash_mismatch_names_both_files(tmp_path):
    a = Signals.load(_signals("plan-a").save(tmp_path / "target"))
    b = Signals.load(_signals("plan-b").save(tmp_path / "shadow"))
    with pytest.raises(AdvlabError) as e:
        check_same_plan(a, b)
    msg = str(e.value)
    assert "target.npz" in msg and "shadow.npz" in msg and "plan-a" in msg and "plan-b" in msg
    with pytest.raises(AdvlabError, match="different split plans"):
        concat_models(a, b)
    assert check_same_plan(a, Signals.load(tmp_path / "target.npz")) == "plan-a"


def test_sidecar_disagreement_is_an_error(tmp_path):
    p = _signals().save(tmp_path / "s")
    side = tmp_path / "s.json"
    d = json.loads(side.read_text())
    d["plan_hash"] = "other"
    side.write_text(json.dumps(d))
    with pytest.raises(AdvlabError, match="disagree on plan_hash"):
        Signals.load(p)


def test_validation_messages():
    logits, labels, keep = synth(n=6, k=3, m=2, q=1)
    with pytest.raises(AdvlabError, match="keep"):
        Signals(logits, labels, keep.astype(int), "p")
    with pytest.raises(AdvlabError, match="labels"):
        Signals(logits, labels + 3, keep, "p")
    with pytest.raises(AdvlabError, match="plan_hash"):
        Signals(logits, labels, keep, "")


def test_select_and_concat():
    s = _signals()
    both = concat_models(s.select_models([0]), s.select_models(slice(1, 3)))
    np.testing.assert_array_equal(both.logits, s.logits)
    sub = s.select_examples(np.arange(12) < 5)
    assert sub.n_examples == 5 and sub.keep.shape == (3, 5)


def test_queries():
    x = torch.arange(2 * 1 * 5 * 5, dtype=torch.float32).reshape(2, 1, 5, 5)
    assert torch.equal(apply_query(x, "flip"), x.flip(-1))
    right = apply_query(x, "shift:1:0")  # moves content one pixel right
    assert torch.equal(right[..., :, 1:], x[..., :, :-1])
    down = apply_query(x, "shift:0:-2")  # moves content two pixels up
    assert torch.equal(down[..., :-2, :], x[..., 2:, :])
    assert torch.equal(apply_query(x, "flip+shift:1:0")[..., 1:], x.flip(-1)[..., :-1])
    with pytest.raises(AdvlabError, match="unknown query"):
        apply_query(x, "rotate")


@pytest.mark.parametrize("augment, side, expected", [
    (["crop", "hflip"], 28, ["id", "flip", "shift:3:0", "shift:-3:0", "shift:0:3", "shift:0:-3",
                             "flip+shift:3:0", "flip+shift:-3:0", "flip+shift:0:3", "flip+shift:0:-3"]),
    (["hflip", "crop"], 32, ["id", "flip", "shift:4:0", "shift:-4:0", "shift:0:4", "shift:0:-4",
                             "flip+shift:4:0", "flip+shift:-4:0", "flip+shift:0:4", "flip+shift:0:-4"]),
    (["crop"], 8, ["id", "shift:1:0", "shift:-1:0", "shift:0:1", "shift:0:-1"]),
    (["hflip"], 28, ["id", "flip"]),
    ([], 28, ["id"]),
])
def test_training_queries_follow_the_recipe_augmentations(augment, side, expected):
    from advlab.data.augment import crop_pad

    qs = training_queries(augment, side)
    assert qs == expected
    assert all(query_problem(q) is None for q in qs) and len(qs) <= 10
    if "crop" in augment:  # the shifts reach exactly the crop's largest translation
        assert max(abs(int(v)) for q in qs if "shift" in q for v in q.split(":")[1:]) == crop_pad(side)
    x = torch.rand(2, 1, side, side)
    for q in qs:  # every derived query runs on an image of that side
        assert apply_query(x, q).shape == x.shape
    with pytest.raises(AdvlabError, match="rotate"):
        training_queries(["rotate"], side)


def test_query_problem_names_the_allowed_forms():
    assert query_problem("flip+shift:-3:0") is None and query_problem("id") is None
    for bad in ("rotate", "shift:1", "flip+flip", "shift:a:0", 3):
        assert "unknown query" in query_problem(bad) and "'shift:DX:DY'" in query_problem(bad)


def test_compute_signals_shapes_and_values():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(1 * 6 * 6, 7))
    x = torch.rand(10, 1, 6, 6)
    y = torch.randint(0, 7, (10,))
    keep = np.zeros((2, 10), dtype=bool)
    keep[0, :5] = True
    sig = compute_signals([model, model], x, y, keep, "p", batch_size=3)
    assert sig.logits.shape == (2, 10, len(DEFAULT_QUERIES), 7) and sig.logits.dtype == np.float32
    assert sig.meta["queries"] == list(DEFAULT_QUERIES)
    with torch.no_grad():
        np.testing.assert_allclose(sig.logits[0, :, 0], model(x).numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sig.logits[1, :, 1], model(x.flip(-1)).numpy(), rtol=1e-5, atol=1e-6)
    assert model.training  # mode restored
    with pytest.raises(AdvlabError, match="keep"):
        compute_signals([model], x, y, keep, "p")
    assert compute_logits(model, x, queries=("id",)).shape == (10, 1, 7)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing_key", "bad_json", "json_list", "bad_shape"])
def test_damaged_signals_are_one_line_naming_the_file_and_the_fix(tmp_path, damage):
    path = _signals().save(tmp_path / "pool")
    side = tmp_path / "pool.json"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00garbage" * 50)
    elif damage == "missing_key":
        np.savez(path, logits=np.zeros((1, 2, 1, 2), np.float32), plan_hash=np.array("plan-a"))
    elif damage == "bad_json":
        side.write_text("{not json")
    elif damage == "json_list":
        side.write_text("[1, 2]")
    else:
        np.savez(path, logits=np.zeros((2, 3), np.float32), labels=np.zeros(3, np.int64),
                 keep=np.zeros((1, 3), bool), plan_hash=np.array("plan-a"))
    with pytest.raises(AdvlabError) as err:
        Signals.load(path, hint="rerun `dvc repro mia_signals`")
    msg = str(err.value)
    named = side if damage in ("bad_json", "json_list") else path
    assert "\n" not in msg and msg.startswith(str(named)) and msg.endswith("rerun `dvc repro mia_signals`")
