"""Input-transformation defenses (SPEC §2) as ``nn.Module`` s on images in ``[0, 1]``.

Removing noise (feature squeezing, Xu et al. 2018): bit-depth reduction, median filter,
JPEG. These are non-differentiable (rounding has zero gradient, JPEG has none), which
only *obfuscates* gradients (Athalye et al. 2018). Each therefore has a BPDA mode
(``bpda=True``): the forward pass applies the transform, the backward pass is the identity
(Athalye et al. 2018, §4.1, the straight-through special case ``g(x) ≈ x``), which is how
an adaptive attacker evaluates them.

Randomisation: random resize-and-pad (Xie et al. 2018), differentiable, to be attacked
with EOT. Adding noise: :func:`gaussian_noise` for Gaussian noise augmentation.

Compose a defended model as ``nn.Sequential(transform, model)``.

:data:`TRANSFORMS` registers every transform by kind (metadata ``randomized``: a randomized
transform takes a ``seed`` and is attacked with EOT; a deterministic one takes ``bpda`` and
is attacked with BPDA). :func:`make_transform` is the one factory (params validate kinds
against the registry); :func:`naive_and_adaptive` builds the two views of a defense that
the naive and the adaptive attacker differentiate. Adding a transform: the class plus one
``TRANSFORMS.register`` line.
"""

from __future__ import annotations

import io

import torch
import torch.nn.functional as F
from torch import nn

from advlab.errors import AdvlabError, check
from advlab.registry import Registry

__all__ = [
    "TRANSFORMS",
    "make_transform",
    "naive_and_adaptive",
    "NoGradient",
    "InputTransform",
    "BitDepthReduction",
    "MedianFilter",
    "JPEGCompression",
    "RandomResizePad",
    "gaussian_noise",
]


class InputTransform(nn.Module):
    """Base class: subclasses implement :meth:`transform`; ``bpda`` picks the gradient.

    ``bpda=False``: autograd of the transform itself (zero or absent for the squeezers).
    ``bpda=True``: straight-through, ``x + (t(x) − x).detach()``: value ``t(x)``,
    gradient the identity.
    """

    #: whether autograd through :meth:`transform` is meaningful (else its output is detached)
    differentiable = False

    def __init__(self, bpda: bool = False):
        super().__init__()
        self.bpda = bool(bpda)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bpda:
            with torch.no_grad():
                y = self.transform(x)
            return x + (y - x).detach()
        if self.differentiable:
            return self.transform(x)
        with torch.no_grad():
            return self.transform(x)

    def extra_repr(self) -> str:
        return f"bpda={self.bpda}"


class BitDepthReduction(InputTransform):
    """Reduce each pixel to ``bits`` bits: ``round(x·(2^b − 1)) / (2^b − 1)`` (Xu et al. 2018, "color depth reduction").

    Plain mode keeps autograd, whose gradient through ``round`` is zero everywhere.
    """

    differentiable = True

    def __init__(self, bits: int = 4, bpda: bool = False):
        super().__init__(bpda)
        check(isinstance(bits, int) and 1 <= bits <= 8, f"bits={bits!r}: bit depth must be an integer in 1..8")
        self.bits = bits

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        levels = 2**self.bits - 1
        return torch.round(x.clamp(0, 1) * levels) / levels

    def extra_repr(self) -> str:
        return f"bits={self.bits}, bpda={self.bpda}"


class MedianFilter(InputTransform):
    """Local median smoothing over a ``k × k`` window, per channel (Xu et al. 2018, "median smoothing").

    Reflect padding keeps the size; for even ``k`` (the paper's 2×2) the window reaches
    one pixel further down/right, and the lower median is taken, as in ``torch.median``.
    Plain mode is detached; use BPDA to attack it.
    """

    def __init__(self, kernel_size: int = 2, bpda: bool = False):
        super().__init__(bpda)
        check(isinstance(kernel_size, int) and kernel_size >= 2, f"kernel_size={kernel_size!r}: must be an integer >= 2")
        self.kernel_size = kernel_size

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        B, C, H, W = x.shape
        pad = ((k - 1) // 2, k // 2, (k - 1) // 2, k // 2)  # left, right, top, bottom
        mode = "reflect" if min(H, W) > k else "replicate"
        patches = F.unfold(F.pad(x, pad, mode=mode), kernel_size=k)  # (B, C·k·k, H·W)
        return patches.view(B, C, k * k, H * W).median(dim=2).values.view(B, C, H, W)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, bpda={self.bpda}"


class JPEGCompression(InputTransform):
    """JPEG encode/decode at ``quality`` (Dziugaite et al. 2016; Guo et al. 2018; SPEC §2).

    Uses Pillow on 8-bit images with 1 or 3 channels. Plain mode is detached.
    """

    def __init__(self, quality: int = 75, bpda: bool = False):
        super().__init__(bpda)
        check(isinstance(quality, int) and 1 <= quality <= 100, f"quality={quality!r}: JPEG quality must be an integer in 1..100")
        self.quality = quality

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        import numpy as np
        from PIL import Image

        check(x.shape[1] in (1, 3), f"JPEG needs 1 or 3 channels, got {x.shape[1]}")
        u8 = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        out = []
        for img in u8:  # JPEG codecs work one image at a time
            buf = io.BytesIO()
            Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(buf, format="JPEG", quality=self.quality)
            dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
            out.append(dec.reshape(img.shape))
        y = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)
        return y.to(device=x.device, dtype=x.dtype) / 255.0

    def extra_repr(self) -> str:
        return f"quality={self.quality}, bpda={self.bpda}"


class RandomResizePad(nn.Module):
    """Random resizing and padding (Xie et al. 2018, §3).

    Each call draws a size ``s`` uniformly from ``[H, max_size)``, resizes the batch to
    ``s × s`` (nearest neighbour, as in the paper), zero-pads it at a random offset to
    ``max_size × max_size``; with ``resize_back`` (default) it resizes the result back
    to ``H × W`` bilinearly so a fixed-input model can consume it (the paper instead
    feeds the larger image to the network). One draw per call is shared by the whole
    batch, as in the reference implementation. Differentiable: evaluate with EOT.

    ``max_size`` defaults to ``round(H · 331/299)``, the paper's ratio. ``seed`` makes
    the sequence of draws reproducible (a private generator); ``None`` uses torch's RNG.
    """

    def __init__(self, max_size: int | None = None, resize_back: bool = True, seed: int | None = None):
        super().__init__()
        check(max_size is None or (isinstance(max_size, int) and max_size >= 1), f"max_size={max_size!r}: must be None or an integer >= 1")
        self.max_size = max_size
        self.resize_back = resize_back
        self.seed = seed
        self._gen = torch.Generator().manual_seed(seed) if seed is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        out = self.max_size or max(round(H * 331 / 299), H + 1)
        check(out > max(H, W), f"max_size={out}: must exceed the image size {H}×{W}")
        s = int(torch.randint(max(H, W), out, (1,), generator=self._gen))
        resized = F.interpolate(x, size=(s, s), mode="nearest")
        top = int(torch.randint(0, out - s + 1, (1,), generator=self._gen))
        left = int(torch.randint(0, out - s + 1, (1,), generator=self._gen))
        padded = F.pad(resized, (left, out - s - left, top, out - s - top))
        if not self.resize_back:
            return padded
        return F.interpolate(padded, size=(H, W), mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"max_size={self.max_size}, resize_back={self.resize_back}, seed={self.seed}"


def gaussian_noise(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None, clip: bool = False) -> torch.Tensor:
    """``x + σ·ε, ε ~ N(0, I)``: Gaussian noise augmentation (SPEC §2) and the noise of
    randomized smoothing (Cohen et al. 2019, Eq. 1). ``clip`` clamps to ``[0, 1]``; Cohen
    et al. do not clip, so the default is off.
    """
    check(sigma >= 0, f"sigma={sigma!r}: the noise level must be >= 0")
    noise = torch.randn(x.shape, generator=generator, device=x.device if generator is None else generator.device, dtype=x.dtype)
    y = x + sigma * noise.to(x.device)
    return y.clamp(0, 1) if clip else y


#: input transforms by kind; metadata ``randomized`` (seeded, attacked with EOT) or not (BPDA)
TRANSFORMS = Registry("input transform")
TRANSFORMS.register("bit_depth", BitDepthReduction, randomized=False)
TRANSFORMS.register("median", MedianFilter, randomized=False)
TRANSFORMS.register("jpeg", JPEGCompression, randomized=False)
TRANSFORMS.register("resize_pad", RandomResizePad, randomized=True)


def make_transform(kind: str, options: dict, bpda: bool = False, seed: int = 0) -> nn.Module:
    """An inference-time defense by kind; a bad kind or option is an error naming it.

    A randomized transform gets ``seed`` (unless ``options`` set one); a deterministic one
    gets ``bpda``."""
    if kind not in TRANSFORMS:
        raise AdvlabError(f"defense kind {kind!r} does not exist; allowed: {', '.join(TRANSFORMS.names())}")
    cls, opts = TRANSFORMS.get(kind), dict(options)
    try:
        if TRANSFORMS.meta(kind)["randomized"]:
            return cls(seed=opts.pop("seed", seed), **opts)
        return cls(bpda=bpda, **opts)
    except TypeError as err:
        raise AdvlabError(f"defense {kind!r}: bad options {sorted(options)} ({err})") from None


class NoGradient(nn.Module):
    """What a naive attacker differentiates: the transform as implemented. A detached
    transform (median, JPEG) has no gradient at all; we give it a zero one so that the
    engine's PGD can run (as autograd does for rounding in bit-depth reduction)."""

    def __init__(self, transform: nn.Module):
        super().__init__()
        self.transform = transform

    def forward(self, x):
        y = self.transform(x)
        return y if y.requires_grad or not x.requires_grad else y.detach() + 0.0 * x


def naive_and_adaptive(kind: str, options: dict, seed: int = 0) -> tuple[nn.Module, nn.Module, bool]:
    """The two views of a defense (Athalye et al. 2018): ``(naive, adaptive, randomized)``.

    Deterministic squeezers: naive = the transform as implemented (zero or no gradient),
    adaptive = BPDA (straight-through). Randomized transforms: both are the transform
    itself (naive seeded ``seed``, adaptive ``seed + 1``); the adaptive attacker averages
    several draws per step (EOT)."""
    randomized = kind in TRANSFORMS and TRANSFORMS.meta(kind)["randomized"]
    naive = make_transform(kind, options, bpda=False, seed=seed)
    naive = naive if randomized else NoGradient(naive)
    adaptive = make_transform(kind, options, bpda=not randomized, seed=seed + 1)
    return naive, adaptive, randomized
