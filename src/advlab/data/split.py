"""The split plan: one seeded, saved assignment of every example to its data roles.

Roles (indices into the prepared dataset):

- ``test``: the official test set (or a drawn one when the dataset has none);
  ``attack_eval`` is a fixed subset of it that the attack families evaluate on.
- ``validation``: fits calibrators (temperature scaling) and early stopping.
- ``target_pool``: half ``members`` (the target's training set), half ``nonmembers``.
- ``shadow_keep`` (K × |target_pool|): LiRA-style keep matrix over the same pool
  (Carlini et al. 2022): every pool example is a member of exactly K/2 shadow models.
- ``auxiliary``: disjoint from the target pool; trains the reference models.
- ``population``: the population points ``z`` of RMIA; disjoint from everything else.

The plan's hash identifies it; saved signals and models carry it so results from
different plans are never mixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from advlab.errors import AdvlabError
from advlab.io import read_json, read_npz, sha256_of, write_json, write_npz

ROLES = ("test", "attack_eval", "validation", "auxiliary", "population", "target_pool", "members", "nonmembers")


@dataclass
class SplitPlan:
    roles: dict[str, np.ndarray]
    shadow_keep: np.ndarray
    seed: int
    hash: str = field(default="")

    def __post_init__(self) -> None:
        if not self.hash:
            self.hash = sha256_of(*(self.roles[r] for r in ROLES), self.shadow_keep)

    def __getitem__(self, role: str) -> np.ndarray:
        return self.roles[role]

    def save(self, npz_path, summary_path, labels: np.ndarray, classes: list[str]) -> None:
        write_npz(npz_path, shadow_keep=self.shadow_keep, **self.roles)
        write_json(summary_path, self.summary(labels, classes))

    def summary(self, labels: np.ndarray, classes: list[str]) -> dict:
        roles = {}
        for r in ROLES:
            idx = self.roles[r]
            counts = np.bincount(labels[idx], minlength=len(classes))
            roles[r] = {"count": int(len(idx)), "per_class": dict(zip(classes, counts.tolist()))}
        k = self.shadow_keep
        return {
            "hash": self.hash,
            "seed": self.seed,
            "roles": roles,
            "shadow_models": int(k.shape[0]),
            "shadow_members_per_model": k.sum(1).tolist(),
        }

    @classmethod
    def load(cls, npz_path, summary_path=None) -> "SplitPlan":
        z = read_npz(npz_path)
        plan = cls({r: z[r] for r in ROLES}, z["shadow_keep"], seed=-1)
        if summary_path is not None:
            saved = read_json(summary_path)
            if saved["hash"] != plan.hash:
                raise AdvlabError(f"{npz_path}: split plan does not match {summary_path} (hash {plan.hash} vs "
                                  f"{saved['hash']}); rerun `dvc repro prepare`")
            plan.seed = saved["seed"]
        return plan


def keep_matrix(k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """K × n boolean matrix whose every column has exactly K/2 true entries."""
    if k == 0:
        return np.zeros((0, n), bool)
    base = np.r_[np.ones(k // 2, bool), np.zeros(k - k // 2, bool)]
    # An independent permutation per column (argsort of uniform noise, vectorised).
    order = np.argsort(rng.random((k, n)), axis=0)
    return base[order]


def make_plan(labels: np.ndarray, is_test: np.ndarray, cfg, seed: int | None = None) -> SplitPlan:
    """Draw the plan from ``cfg`` (:class:`advlab.params.SplitParams`)."""
    seed = cfg.seed if seed is None else seed
    rng = np.random.default_rng(seed)
    official_test = np.flatnonzero(is_test)
    pool = np.flatnonzero(~is_test)
    pool = pool[rng.permutation(len(pool))]

    if len(official_test):
        test = official_test if cfg.test is None else rng.permutation(official_test)[: cfg.test]
        if cfg.test is not None and cfg.test > len(official_test):
            raise AdvlabError(f"split.test = {cfg.test} but the official test set has {len(official_test)} examples")
    else:
        if cfg.test is None:
            raise AdvlabError("split.test: this dataset has no official test set; give a number of test examples")
        test, pool = pool[: cfg.test], pool[cfg.test :]

    sizes = {"validation": cfg.validation, "auxiliary": cfg.auxiliary, "population": cfg.population,
             "target_pool": cfg.target_pool}
    need = sum(sizes.values())
    if need > len(pool):
        detail = ", ".join(f"split.{k} = {v}" for k, v in sizes.items())
        raise AdvlabError(f"the split asks for {need} training-pool examples ({detail}) but the dataset has "
                          f"{len(pool)} outside the test set; lower some of these sizes")
    if cfg.attack_eval > len(test):
        raise AdvlabError(f"split.attack_eval = {cfg.attack_eval} exceeds the {len(test)} test examples")

    roles, start = {}, 0
    for role, size in sizes.items():
        roles[role] = np.sort(pool[start : start + size])
        start += size
    target_pool = roles["target_pool"]
    member_mask = np.zeros(len(target_pool), bool)
    member_mask[rng.permutation(len(target_pool))[: len(target_pool) // 2]] = True
    roles["members"] = target_pool[member_mask]
    roles["nonmembers"] = target_pool[~member_mask]
    roles["test"] = np.sort(test)
    roles["attack_eval"] = np.sort(rng.permutation(test)[: cfg.attack_eval])
    keep = keep_matrix(cfg.shadow_models, len(target_pool), rng)
    return SplitPlan({r: roles[r].astype(np.int64) for r in ROLES}, keep, seed)
