"""Names checked against a registry that more than one family's section uses."""

from __future__ import annotations

from typing import Annotated

from advlab.params.core import one_of


def detector_names() -> list[str]:
    from advlab.defenses.detectors import DETECTORS

    return DETECTORS.names()


DetectorName = Annotated[str, one_of(detector_names, "detector")]
