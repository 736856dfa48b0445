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
