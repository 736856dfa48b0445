"""The prepared data on disk: a missing, truncated or garbage file is one line naming it and `dvc repro prepare`."""

import numpy as np
import pytest

from advlab.data.prepared import load_prepared, save_dataset
from advlab.data.split import make_plan
from advlab.errors import AdvlabError
from advlab.params import SplitParams


@pytest.fixture
def prepared(tmp_path, digits):
    plan = make_plan(digits.labels, digits.is_test, SplitParams(target_pool=200, validation=50, auxiliary=50,
                                                                population=50, test=100, attack_eval=50,
                                                                shadow_models=2))
    save_dataset(digits, tmp_path)
    plan.save(tmp_path / "split.npz", tmp_path / "split.json", digits.labels, digits.classes)
    return tmp_path


def test_roundtrip(prepared, digits):
    ds, plan = load_prepared(prepared)
    np.testing.assert_array_equal(ds.images, digits.images)
    assert ds.classes == digits.classes and len(plan["members"]) == 100


@pytest.mark.parametrize("name,damage", [("dataset.npz", "truncate"), ("dataset.npz", "garbage"),
                                         ("dataset.npz", "delete"), ("split.npz", "truncate"),
                                         ("split.json", "garbage")])
def test_damaged_prepared_file_is_one_line_naming_it(prepared, name, damage):
    path = prepared / name
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a zip, not json")
    else:
        path.unlink()
    with pytest.raises(AdvlabError) as err:
        load_prepared(prepared)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(path)) and msg.endswith("run `dvc repro prepare`")
