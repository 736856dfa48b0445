import numpy as np
import pytest

from advlab.data.split import ROLES, SplitPlan, keep_matrix, make_plan
from advlab.errors import AdvlabError
from advlab.params import SplitParams


def cfg(**kw):
    base = dict(target_pool=800, validation=100, auxiliary=200, population=100, test=300, attack_eval=100,
                shadow_models=6)
    return SplitParams(**{**base, **kw})


def test_roles_are_disjoint_and_sized(digits):
    plan = make_plan(digits.labels, digits.is_test, cfg())
    disjoint = ["test", "validation", "auxiliary", "population", "target_pool"]
    for i, a in enumerate(disjoint):
        for b in disjoint[i + 1 :]:
            assert not np.intersect1d(plan[a], plan[b]).size, (a, b)
    assert set(plan["members"]) | set(plan["nonmembers"]) == set(plan["target_pool"])
    assert len(plan["members"]) == len(plan["nonmembers"]) == 400
    assert np.isin(plan["attack_eval"], plan["test"]).all() and len(plan["attack_eval"]) == 100
    assert len(np.unique(plan["test"])) == 300


def test_keep_matrix_half_membership(digits):
    plan = make_plan(digits.labels, digits.is_test, cfg())
    assert plan.shadow_keep.shape == (6, 800)
    assert (plan.shadow_keep.sum(0) == 3).all()
    # each shadow model gets about half of the pool
    assert np.all(np.abs(plan.shadow_keep.sum(1) - 400) < 80)
    # the target's membership is drawn independently of the shadows'
    is_member = np.isin(plan["target_pool"], plan["members"])
    assert abs(np.corrcoef(is_member, plan.shadow_keep[0])[0, 1]) < 0.15


def test_class_balance_of_members(digits):
    plan = make_plan(digits.labels, digits.is_test, cfg())
    counts = np.bincount(digits.labels[plan["members"]], minlength=10)
    assert counts.min() > 0.6 * counts.mean()


def test_seeded_and_hashed(digits):
    a = make_plan(digits.labels, digits.is_test, cfg())
    b = make_plan(digits.labels, digits.is_test, cfg())
    c = make_plan(digits.labels, digits.is_test, cfg(seed=1))
    assert a.hash == b.hash != c.hash
    for r in ROLES:
        np.testing.assert_array_equal(a[r], b[r])


def test_save_load_roundtrip_and_tamper(tmp_path, digits):
    plan = make_plan(digits.labels, digits.is_test, cfg())
    plan.save(tmp_path / "s.npz", tmp_path / "s.json", digits.labels, digits.classes)
    back = SplitPlan.load(tmp_path / "s.npz", tmp_path / "s.json")
    assert back.hash == plan.hash and back.seed == 0
    other = make_plan(digits.labels, digits.is_test, cfg(seed=3))
    other.save(tmp_path / "o.npz", tmp_path / "o.json", digits.labels, digits.classes)
    with pytest.raises(AdvlabError, match="does not match"):
        SplitPlan.load(tmp_path / "o.npz", tmp_path / "s.json")


def test_too_large_sizes_name_the_keys(digits):
    with pytest.raises(AdvlabError) as err:
        make_plan(digits.labels, digits.is_test, cfg(target_pool=2000))
    assert "split.target_pool = 2000" in str(err.value)
    with pytest.raises(AdvlabError, match="attack_eval"):
        make_plan(digits.labels, digits.is_test, cfg(attack_eval=301))
    with pytest.raises(AdvlabError, match="no official test set"):
        make_plan(digits.labels, digits.is_test, cfg(test=None))


def test_keep_matrix_zero_and_exact():
    rng = np.random.default_rng(0)
    assert keep_matrix(0, 5, rng).shape == (0, 5)
    k = keep_matrix(64, 1000, rng)
    assert (k.sum(0) == 32).all()
