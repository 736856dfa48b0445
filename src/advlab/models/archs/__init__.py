"""Every zoo architecture, one module each; importing this package registers them all in
:data:`advlab.models.registry.MODELS` (adding an architecture is adding a file here)."""

from advlab.registry import import_submodules

import_submodules(__name__, __path__)
