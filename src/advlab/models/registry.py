"""The model concepts' registries (leaf module: it imports none of what it registers).

* :data:`MODELS`: zoo architectures, filled by :mod:`advlab.models.archs`. Each entry is a
  backbone builder ``fn(input_shape, num_classes, **options)`` registered with metadata
  ``options`` (the option names it accepts; ``None``: its builder checks them itself) and
  ``capabilities`` (a function of the options answering ``batchnorm``/``dropout``/
  ``selective``; see :func:`advlab.models.zoo.capabilities`).
* :data:`ESTIMATORS`: uncertainty estimators, filled by :mod:`advlab.models.estimators`.
  Each entry is an :class:`~advlab.models.estimators.Estimator` class whose ``build(models,
  names, **options)`` makes it, with metadata ``options`` (its keyword options) and
  ``ensemble`` (it takes M >= 1 models instead of one).
"""

from __future__ import annotations

from advlab.registry import Registry

MODELS = Registry("architecture", package="advlab.models.archs")
ESTIMATORS = Registry("estimator", package="advlab.models.estimators")
