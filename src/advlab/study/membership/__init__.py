"""The membership-inference study (SPEC §5): its data roles, training its models, saving
their signals and running every registered attack on every target variant.

Data roles, all drawn from the saved split plan:

* the MIA pool: a seeded subset of ``plan["target_pool"]`` of size ``membership.pool``
  (all of it when None), drawn as exactly pool/2 members and pool/2 non-members of the
  plan. The MIA target variants train on its plan members; shadow model ``k`` trains on
  the pool examples with ``plan.shadow_keep[k]`` true. Each keep column has exactly K/2
  true entries, so every pool example is still a member of exactly K/2 shadow models;
* reference model ``r`` trains on a seeded draw of ``membership.reference_size``
  (default pool/2, the target's training-set size) examples of ``plan["auxiliary"]``;
* RMIA's population points: a seeded subset of ``plan["population"]``.

Models (:data:`KINDS`): the K shadows (seeds ``seed + 1 + k``), ``membership.references``
reference models (seeds ``seed + 1001 + r``) and every variant of ``membership.targets``
(seed ``seed``), all with ``models.<target_model>`` overridden by ``membership.recipe``
(and the variant's own overrides), trained by :func:`advlab.training.jobs.train_job`. A
model whose saved sidecar records exactly its current settings is reused, not retrained.

LiRA's queries (:func:`queries`): ``membership.queries``, or by default the recipe's training
augmentations (Carlini et al. 2022 query with them): ``id``, ``flip`` with hflip, shifts by the
crop's pad with crop.

Modules: :mod:`.train` (the models), :mod:`.signals` (their saved logits), :mod:`.attack`
(every registered attack on every target). Layout: models under ``models/membership/{shadows/NNN,references/NNN,targets/NAME}``,
signals under ``results/membership/signals/{shadows,references,target_NAME}/``
(``pool`` and ``population`` signal sets), attack results under
``results/membership/attack/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advlab.errors import AdvlabError
from advlab.io import sha256_of
from advlab.params import MembershipParams, Params, merge_train

MODELS = Path("models/membership")
RESULTS = Path("results/membership")
SIGNALS = RESULTS / "signals"
CHECKPOINTS = Path("checkpoints/membership")
KINDS = ("shadows", "references", "targets")


def settings(p: Params) -> MembershipParams:
    if p.membership is None:
        raise AdvlabError("params.yaml has no 'membership:' section; add one (see profiles/default.yaml)")
    return p.membership


@dataclass
class MiaData:
    pool: np.ndarray  # dataset indices of the MIA pool
    members: np.ndarray  # (P,) bool: member of the MIA targets
    shadow_keep: np.ndarray  # (K, P) bool
    population: np.ndarray  # dataset indices of RMIA's population points
    pool_hash: str


def shadow_count(plan) -> int:
    k = int(plan.shadow_keep.shape[0])
    if k < 1:
        raise AdvlabError(f"membership: the split plan has K = {k} shadow models; set split.shadow_models to an "
                          "even number >= 2 (>= 4 for LiRA's per-example variance) and rerun `dvc repro prepare`")
    if k % 2:
        raise AdvlabError(f"membership: the split plan has an odd K = {k} shadow models; the keep matrix needs K even "
                          "so every example is in exactly K/2 of them")
    return k


def mia_data(plan, m: MembershipParams) -> MiaData:
    k = shadow_count(plan)
    tp = plan["target_pool"]
    size = len(tp) if m.pool is None else m.pool
    if size > len(tp):
        raise AdvlabError(f"membership.pool = {size} exceeds split.target_pool = {len(tp)}")
    rng = np.random.default_rng(m.seed)
    if size == len(tp):
        pos = np.arange(len(tp))
    else:  # exactly pool/2 non-members (the count every low-FPR cell rests on), the rest members
        is_member = np.isin(tp, plan["members"])
        mem, non = np.flatnonzero(is_member), np.flatnonzero(~is_member)
        n_non = size // 2
        if size - n_non > len(mem) or n_non > len(non):
            raise AdvlabError(f"membership.pool = {size} needs {size - n_non} members and {n_non} non-members but "
                              f"split.target_pool has {len(mem)} and {len(non)}")
        pos = np.sort(np.concatenate([rng.choice(mem, size - n_non, replace=False),
                                      rng.choice(non, n_non, replace=False)]))
    pool = tp[pos]
    members = np.isin(pool, plan["members"])
    keep = plan.shadow_keep[:, pos].astype(bool)
    assert keep.shape == (k, size) and (keep.sum(0) == k // 2).all()
    pop = plan["population"]
    n_pop = len(pop) if m.population is None else m.population
    if n_pop > len(pop):
        raise AdvlabError(f"membership.population = {n_pop} exceeds split.population = {len(pop)}")
    population = pop if n_pop == len(pop) else np.sort(rng.choice(pop, n_pop, replace=False))
    return MiaData(pool, members, keep, population, sha256_of(pool, members, keep, population))


def queries(p: Params) -> list[str]:
    """LiRA's queries: ``membership.queries``, or (null) those matching the shared recipe's augmentations
    (:func:`advlab.attacks.membership.signals.training_queries`) for the dataset's image side.

    Every model is queried with the same set: the attacker's shadows and references train on the shared
    recipe (``models.<target_model>`` overridden by ``membership.recipe``), whatever a target variant
    changes (a ``no_augment`` target is still queried with the shadows' augmentations).
    """
    from advlab.attacks.membership.signals import training_queries
    from advlab.params.spine import input_shape

    m = settings(p)
    if m.queries is not None:
        return list(m.queries)
    train = merge_train(p.models[m.target_model].train, m.recipe.train, where="membership.recipe.train")
    return training_queries(train.augment, input_shape(p.data.dataset)[-1])


def reference_sets(plan, m: MembershipParams, pool_size: int) -> list[np.ndarray]:
    aux = plan["auxiliary"]
    size = m.reference_size or pool_size // 2
    if size > len(aux):
        raise AdvlabError(f"membership: each reference model trains on {size} auxiliary examples "
                          f"(membership.reference_size, default pool/2) but split.auxiliary = {len(aux)}")
    return [np.sort(np.random.default_rng([m.seed, 1, r]).choice(aux, size, replace=False))
            for r in range(m.references)]
