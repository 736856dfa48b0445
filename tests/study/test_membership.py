"""The membership study's data roles (library code behind the mia_* stages)."""

from types import SimpleNamespace

import numpy as np
import pytest

from advlab.errors import AdvlabError


def test_shadow_count_needs_k_at_least_one_and_even():
    from advlab.study.membership import shadow_count

    with pytest.raises(AdvlabError, match=r"K = 0 shadow models"):
        shadow_count(SimpleNamespace(shadow_keep=np.zeros((0, 10), bool)))
    with pytest.raises(AdvlabError, match=r"odd K = 3"):
        shadow_count(SimpleNamespace(shadow_keep=np.zeros((3, 10), bool)))
    assert shadow_count(SimpleNamespace(shadow_keep=np.zeros((4, 10), bool))) == 4


class _Plan(dict):
    def __init__(self, roles, keep):
        super().__init__(roles)
        self.shadow_keep = keep


def _plan(n=400, k=4, member_share=0.45, seed=0):
    rng = np.random.default_rng(seed)
    tp = np.arange(n) * 3  # dataset indices
    members = tp[rng.random(n) < member_share]  # not exactly half, as a split plan's draw may be
    keep = np.zeros((k, n), bool)
    for j in range(n):
        keep[rng.permutation(k)[: k // 2], j] = True
    return _Plan({"target_pool": tp, "members": members, "population": np.arange(10_000, 10_050)}, keep)


def test_mia_pool_has_exactly_half_non_members():
    """pool/2 non-members whatever the plan's member share: TPR at FPR t rests on t * pool/2 false positives."""
    from advlab.params import MembershipParams
    from advlab.study.membership import mia_data

    plan = _plan()
    for pool in (10, 100, 300):
        d = mia_data(plan, MembershipParams(pool=pool, population=20))
        assert (~d.members).sum() == d.members.sum() == pool // 2
        assert set(d.pool) <= set(plan["target_pool"]) and len(set(d.pool)) == pool and (np.diff(d.pool) > 0).all()
        assert np.array_equal(d.members, np.isin(d.pool, plan["members"]))
        assert (d.shadow_keep.sum(0) == 2).all()  # still K/2 shadows per example
    again = mia_data(plan, MembershipParams(pool=100, population=20))
    assert np.array_equal(again.pool, mia_data(plan, MembershipParams(pool=100, population=20)).pool)  # seeded
    full = mia_data(plan, MembershipParams(pool=None, population=20))
    assert len(full.pool) == 400  # pool: null keeps all of the target pool, as drawn
    with pytest.raises(AdvlabError, match=r"membership.pool = 390 needs 195 members and 195 non-members"):
        mia_data(_plan(member_share=0.3), MembershipParams(pool=390, population=20))
