"""Stage ``check_params``: validate the whole ``params.yaml`` (every key, every family), so
any edit of the file reruns it under ``dvc repro`` and a bad file (an unknown top-level key,
say, which no other stage reads) fails the run with one line. Writes a small summary,
``results/params_check.json``."""

from __future__ import annotations

import sys
from pathlib import Path

from advlab.io import write_json
from advlab.stages.common import load_params, stage

OUT = Path("results/params_check.json")


@stage
def main() -> None:
    p = load_params()
    families = [f for f in ("membership", "calibration", "evasion", "uncertainty") if getattr(p, f) is not None]
    write_json(OUT, {"valid": True, "dataset": p.data.dataset, "models": list(p.models), "families": families})
    print(f"params.yaml: valid ({p.data.dataset}; {len(p.models)} models; families: {', '.join(families) or 'none'})")


if __name__ == "__main__":
    sys.exit(main())
