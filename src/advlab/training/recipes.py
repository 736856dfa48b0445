"""Every training objective's module, imported on the first lookup of
:data:`advlab.training.objectives.TRAIN_OBJECTIVES` so each registers itself.
A new training recipe adds its module here."""

from advlab.training import caat, robust, selective  # noqa: F401  (registration)
