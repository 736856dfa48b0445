"""The schema of ``params.yaml``: every knob of the study, validated before any work.

One module per family beside a small shared core (:mod:`advlab.params.core`: the strict
base, ``Name``, ``ModelRef`` and the one train-override merge). Unknown keys, wrong types
and out-of-range values are errors whose message names the key path, the bad value and
what is allowed; names (attacks, objectives, architectures, estimators, ...) are checked
against the library's registries, never against a list written here.
``advlab check-params FILE`` runs the same validation on its own.
"""

from advlab.params.calibration import *  # noqa: F401,F403
from advlab.params.compute import ComputeParams  # noqa: F401
from advlab.params.core import ModelRef, Name, Strict, merge_train  # noqa: F401
from advlab.params.evasion import *  # noqa: F401,F403
from advlab.params.membership import *  # noqa: F401,F403
from advlab.params.spine import *  # noqa: F401,F403
from advlab.params.study import FAMILIES, PARAMS_FILE, Params, load, read_yaml, validate  # noqa: F401
from advlab.params.uncertainty import *  # noqa: F401,F403
