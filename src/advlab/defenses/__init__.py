"""Defenses (SPEC §2–§3): post-hoc calibration (temperature, Compression Scaling), input
transforms (feature squeezers with BPDA, random resize-and-pad, Gaussian noise),
randomized smoothing, and adversarial-example detectors."""

from advlab.defenses.detectors import (
    Detector,
    FeatureSqueezingDetector,
    LIDDetector,
    MahalanobisDetector,
    detection_auroc,
)
from advlab.defenses.posthoc import (
    CS_BANDS,
    CompressionScaling,
    calibrate_temperature,
    compression_scale,
    compression_targets,
    fit_temperature,
    solve_temperature,
)
from advlab.defenses.smoothing import ABSTAIN, certify, clopper_pearson_lower, predict, sample_counts
from advlab.defenses.transforms import (
    TRANSFORMS,
    BitDepthReduction,
    InputTransform,
    JPEGCompression,
    MedianFilter,
    NoGradient,
    RandomResizePad,
    gaussian_noise,
    make_transform,
    naive_and_adaptive,
)

__all__ = [
    "ABSTAIN",
    "TRANSFORMS",
    "NoGradient",
    "make_transform",
    "naive_and_adaptive",
    "CS_BANDS",
    "BitDepthReduction",
    "CompressionScaling",
    "Detector",
    "FeatureSqueezingDetector",
    "InputTransform",
    "JPEGCompression",
    "LIDDetector",
    "MahalanobisDetector",
    "MedianFilter",
    "RandomResizePad",
    "calibrate_temperature",
    "certify",
    "clopper_pearson_lower",
    "compression_scale",
    "compression_targets",
    "detection_auroc",
    "fit_temperature",
    "gaussian_noise",
    "predict",
    "sample_counts",
    "solve_temperature",
]
