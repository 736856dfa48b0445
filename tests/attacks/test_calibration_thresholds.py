"""Issue 4, bad input at the engine: calibration thresholds outside (0, 1), a target
confidence below 1/K, or an unknown objective fail with a message naming them, before any query."""

import pytest
import torch

from advlab.attacks import run_attack
from advlab.errors import AdvlabError


@pytest.mark.parametrize("params,words", [
    ({"objective": "underconfidence", "tau_u": 1.5}, ["tau_u=1.5", "between 0 and 1"]),
    ({"objective": "overconfidence", "tau_o": 0.05}, ["tau_o=0.05", "1/K"]),
    ({"objective": "random_confidence", "tolerance": 0.0}, ["tolerance=0.0"]),
    ({"objective": "sideways"}, ["objective='sideways'"]),
])
def test_engine_rejects_bad_thresholds_before_any_query(params, words):
    calls = []

    class Spy(torch.nn.Module):
        def forward(self, x):
            calls.append(len(x))
            return torch.zeros(len(x), 10)

    x, y = torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)
    with pytest.raises(AdvlabError) as err:
        run_attack("square", Spy(), x, y, n_queries=5, **params)
    for w in words:
        assert w in str(err.value)
    # thresholds that need K (tau_o vs 1/K) are checked after the one clean query, never later
    assert sum(calls) <= len(x)
