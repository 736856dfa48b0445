"""LDC-MIA: Learning-Based Difficulty Calibration (Shi et al., IEEE EuroS&P 2024,
arXiv 2401.04929), as specified in SPEC §5.

Per example the feature vector is ``[one-hot(y), calibrated score, membership score]``
(dimension K + 2):

* membership score ``s_t = −CE(f(x), y)`` on the target model (on the shadow model while
  the classifier is trained);
* reference score ``s_ref = −CE(f_ref(x), y)`` on the one reference model;
* neighbourhood ``N(x)`` = fraction of the shadow pool whose reference-model logit
  vectors have cosine similarity ≥ ``threshold`` with x's reference logits;
* calibrated score ``(s_t − s_ref) / N(x)``.

A 3-layer MLP is trained on the shadow model's members (1) and non-members (0) and
applied to the target's features. Choices the summary leaves open, written down here:

* ``N(x) = max(count, 1) / |shadow pool|``: a target example with no neighbour would
  divide by zero; a shadow-pool example always counts itself, so the floor only
  touches isolated target examples;
* the two score columns are standardised with the training set's mean and std (the
  one-hot block is left alone) so Adam sees inputs of unit scale;
* hidden sizes ``max(128, 4d)`` then ``max(64, 2d)``: ``d→128→64→2`` for ``d ≤ 32``,
  ``d→4d→2d→2`` beyond, so the network never narrows below its input;
* the score is the classifier's logit margin ``z_member − z_non`` (monotone in
  P(member), no saturation at low FPR);
* K comes from the logits, never a constant.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

from advlab.compute import torch_threads
from advlab.errors import check

from ._common import cross_entropy, labels_for, members_for, one_model
from .registry import register


def neighbourhood_fraction(ref_logits, pool_ref_logits, *, threshold: float = 0.0,
                           chunk_size: int = 2048) -> np.ndarray:
    """``N(x)``: fraction of pool rows with cosine similarity ≥ ``threshold`` to each row of ``ref_logits``.

    ``ref_logits`` ``(N, K)``, ``pool_ref_logits`` ``(P, K)``; a chunked matrix product
    keeps memory at ``chunk_size × P``. Floored at ``1/P`` (see module docstring).
    """
    check(-1.0 <= threshold <= 1.0, f"threshold must be in [-1, 1] (a cosine similarity); got {threshold}")
    check(chunk_size >= 1, f"chunk_size must be >= 1; got {chunk_size}")
    a = np.asarray(ref_logits, dtype=np.float64)
    b = np.asarray(pool_ref_logits, dtype=np.float64)
    check(a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[1] and b.shape[0] >= 1,
          f"ref_logits (N, K) and pool_ref_logits (P, K) must share K and P >= 1; got {a.shape} and {b.shape}")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-300)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-300)
    counts = np.empty(a.shape[0], dtype=np.int64)
    for s in range(0, a.shape[0], chunk_size):
        # 1e-12 slack: an example's similarity with itself must count as 1
        counts[s : s + chunk_size] = ((a[s : s + chunk_size] @ b.T) >= threshold - 1e-12).sum(1)
    return np.maximum(counts, 1) / b.shape[0]


def ldc_features(model_logits, reference_logits, labels, pool_reference_logits, *, threshold: float = 0.0,
                 query: int = 0, chunk_size: int = 2048) -> np.ndarray:
    """Features ``[one-hot(y), (s_t − s_ref)/N(x), s_t]``, shape ``(N, K + 2)``.

    ``model_logits``: the target (or shadow) model on the examples; ``reference_logits``:
    the reference model on the same examples; ``pool_reference_logits``: the reference
    model on the whole shadow pool (defines ``N(x)``). Each ``(N, K)`` or ``(N, Q, K)``.
    """
    zm = one_model(model_logits, "model_logits")
    zr = one_model(reference_logits, "reference_logits")
    zp = one_model(pool_reference_logits, "pool_reference_logits")
    check(zr.shape == zm.shape, f"reference_logits must match model_logits: {zr.shape} vs {zm.shape}")
    check(zp.shape[1:] == zm.shape[1:], f"pool_reference_logits must be (P, {zm.shape[1]}, {zm.shape[2]}); got {zp.shape}")
    check(isinstance(query, (int, np.integer)) and 0 <= query < zm.shape[1],
          f"query must be an int in [0, {zm.shape[1]}); got {query!r}")
    y = labels_for(labels, zm)
    k = zm.shape[-1]
    s_t = -cross_entropy(zm, y)[:, query]
    s_ref = -cross_entropy(zr, y)[:, query]
    n_x = neighbourhood_fraction(zr[:, query], zp[:, query], threshold=threshold, chunk_size=chunk_size)
    return np.concatenate([np.eye(k)[y], ((s_t - s_ref) / n_x)[:, None], s_t[:, None]], axis=1)


def ldc_classifier(d: int) -> nn.Module:
    """The 3-layer MLP: ``d→128→64→2`` for small d, ``d→4d→2d→2`` for large d."""
    h1, h2 = max(128, 4 * d), max(64, 2 * d)
    return nn.Sequential(nn.Linear(d, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(), nn.Linear(h2, 2))


def ldc_mia_attack(shadow_logits, shadow_reference_logits, shadow_labels, shadow_members,
                   target_logits, target_reference_logits, target_labels, *, threshold: float = 0.0,
                   epochs: int = 100, lr: float = 1e-3, batch_size: int = 128, seed: int = 0,
                   query: int = 0, chunk_size: int = 2048) -> np.ndarray:
    """LDC-MIA score per target-pool example (Shi et al. 2024); higher = more likely a member.

    Exactly one shadow and one reference model: ``shadow_logits`` is the shadow model on
    the shadow pool with ``shadow_members`` (its keep row), ``shadow_reference_logits``
    the reference model on the shadow pool; ``target_logits`` / ``target_reference_logits``
    the target and reference models on the target pool. Each ``(N, K)`` or ``(N, Q, K)``;
    stacks of several models are refused.
    """
    for name, arr in (("shadow_logits", shadow_logits), ("shadow_reference_logits", shadow_reference_logits),
                      ("target_logits", target_logits), ("target_reference_logits", target_reference_logits)):
        check(np.ndim(arr) in (2, 3),
              f"LDC-MIA uses exactly one shadow and one reference model: {name} must be (N, K) or (N, Q, K); "
              f"got shape {np.shape(arr)}")
    check(epochs >= 1 and batch_size >= 1 and lr > 0,
          f"epochs, batch_size must be >= 1 and lr > 0; got epochs={epochs}, batch_size={batch_size}, lr={lr}")
    zs = one_model(shadow_logits, "shadow_logits")
    members = members_for(shadow_members, zs.shape[0], "shadow_members")
    check(np.shape(target_logits)[-1] == zs.shape[-1],
          f"target and shadow must have the same K; got {np.shape(target_logits)[-1]} vs {zs.shape[-1]}")
    f_train = ldc_features(shadow_logits, shadow_reference_logits, shadow_labels, shadow_reference_logits,
                           threshold=threshold, query=query, chunk_size=chunk_size)
    f_test = ldc_features(target_logits, target_reference_logits, target_labels, shadow_reference_logits,
                          threshold=threshold, query=query, chunk_size=chunk_size)
    mu, sd = f_train[:, -2:].mean(0), f_train[:, -2:].std(0)
    sd = np.where(sd > 0, sd, 1.0)
    f_train[:, -2:] = (f_train[:, -2:] - mu) / sd
    f_test[:, -2:] = (f_test[:, -2:] - mu) / sd

    net = _fit_classifier(f_train, members, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    with torch.no_grad():
        out = net(torch.from_numpy(f_test))
    return (out[:, 1] - out[:, 0]).numpy()


#: the last classifier trained: the stage attacks every target variant with the same shadow and
#: reference model, so the classifier (trained on the shadow's features only) is trained once
_FITTED: dict[str, nn.Module] = {}


def _fit_classifier(f_train: np.ndarray, members: np.ndarray, *, epochs: int, lr: float, batch_size: int,
                    seed: int) -> nn.Module:
    """The MLP trained on ``f_train`` (members 1, non-members 0); reused when called again with the same
    features, labels and settings. One torch thread: on a small MLP more threads only add synchronisation
    (the results are the same; on a loaded CPU two threads were 4-12 times slower)."""
    key = hashlib.sha256(f_train.tobytes() + members.tobytes() + repr((f_train.shape, epochs, lr, batch_size, seed))
                         .encode()).hexdigest()
    if key in _FITTED:
        return _FITTED[key]
    with torch.random.fork_rng(devices=[]), torch_threads(1):
        torch.manual_seed(seed)
        net = ldc_classifier(f_train.shape[1]).double()
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        xt = torch.from_numpy(f_train)
        yt = torch.from_numpy(members.astype(np.int64))
        g = torch.Generator().manual_seed(seed)
        net.train()
        for _ in range(epochs):
            perm = torch.randperm(xt.shape[0], generator=g)
            for s in range(0, xt.shape[0], batch_size):
                idx = perm[s : s + batch_size]
                loss = nn.functional.cross_entropy(net(xt[idx]), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    net.eval()
    _FITTED.clear()
    _FITTED[key] = net
    return net


def _run(inp) -> np.ndarray:
    sh, ref, a = inp.shadows, inp.references, inp.settings
    return ldc_mia_attack(sh.logits[0], ref.logits[0], inp.labels, sh.keep[0], inp.target_logits, ref.logits[0],
                          inp.labels, threshold=a.ldc_threshold, epochs=a.ldc_epochs, seed=inp.seed)


register("ldc_mia", _run, signals=("target", "shadows", "references"), models={"shadows": 1, "references": 1},
         order=50)
