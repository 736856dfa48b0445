"""benchmarks/gpu.py: says so and exits 0 without CUDA; on the CPU (``--device cpu``) it times
every recipe of a profile at both precisions and sums the profile's trainings."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from advlab import profiles
from advlab.data.longtail import long_tailed
from advlab.params import validate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def gpu(monkeypatch):
    monkeypatch.chdir(ROOT)  # profiles/ is read relative to the working directory
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("benchmark_gpu", ROOT / "benchmarks" / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the benchmark would run")
def test_without_cuda_it_says_so_and_exits_0(gpu, capsys):
    assert gpu.main([]) == 0
    assert "no CUDA device" in capsys.readouterr().out


def test_cpu_smoke_times_every_recipe_and_counts_every_training(gpu, capsys):
    assert gpu.main(["--profile", "tiny", "--device", "cpu", "--steps", "1", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    p = validate(profiles.resolve("tiny"))
    items, recipes = gpu.trainings(p)
    assert {"cnn", "vit", "cnn_trades", "cnn_sel", "mia recipe"} <= {name for name, *_ in recipes.values()}
    count = {g: sum(t.count for t in items if t.group == g) for g in {t.group for t in items}}
    m, pp = p.membership, p.evasion.poisoning
    assert count == {"models (train@)": len(p.models), "membership shadows": p.split.shadow_models,
                     "membership references": m.references, "membership targets": len(m.targets),
                     "poisoning sweep": len(pp.label_flip_rates) + len(pp.backdoor_rates)}
    total = next(line for line in out.splitlines() if line.startswith("total")).split()
    assert int(total[1]) == sum(count.values()) and all(float(h) >= 0 for h in total[2:])
    assert len([line for line in out.splitlines() if line.split()[-1:] == ["-"]]) == len(recipes)


def test_imbalanced_training_set_size_matches_the_long_tailed_draw(gpu):
    p = validate(profiles.resolve("default"))
    train = next(mp.train for mp in p.models.values() if mp.train.imbalance_ratio)
    n = min(p.split.target_pool // 2, train.max_members or p.split.target_pool)
    labels = np.arange(n) % 10  # balanced members, as the split draws them (up to rounding)
    drawn = long_tailed(np.arange(n), labels, train.imbalance_ratio, 10)
    assert gpu.members(p, train) == len(drawn) < n


def test_hours_use_each_trainings_own_precision_unless_one_is_forced(gpu):
    items = [gpu.Training("g", "a", count=2, epochs=3, examples=600, precision="bf16"),
             gpu.Training("g", "b", count=1, epochs=10, examples=360, precision="fp32")]
    rates = {("a", "fp32"): 50.0, ("a", "bf16"): 100.0, ("b", "fp32"): 1.0, ("b", "bf16"): 2.0}
    assert gpu.hours(items, rates, None) == pytest.approx((2 * 3 * 600 / 100 + 10 * 360 / 1) / 3600)
    assert gpu.hours(items, rates, "fp32") == pytest.approx((2 * 3 * 600 / 50 + 10 * 360 / 1) / 3600)
    assert gpu.hours(items, rates, "bf16") == pytest.approx((2 * 3 * 600 / 100 + 10 * 360 / 2) / 3600)
