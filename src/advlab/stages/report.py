"""Stage ``report@<notebook>``: execute a notebook with papermill and render it.

Writes the family's headline numbers to ``metrics/<name>.json`` (versioned in git: what
``dvc metrics diff`` and ``dvc exp show`` compare), then ``reports/<name>.ipynb`` (executed),
``reports/<name>.html`` (no code) and the notebook's PNG figures and CSV tables under
``reports/figures/<name>/``. A report reads only its
family's ``results/<name>/`` (its DVC dependency), so a change elsewhere does not
re-render it. Notebooks only read results and draw; they never train.
"""

from __future__ import annotations

import sys
from pathlib import Path

from advlab.errors import AdvlabError
from advlab.io import atomic_path, write_json, write_text
from advlab.stages.common import load_params, stage
from advlab.study.headline import HEADLINES, headline

NOTEBOOKS, REPORTS, METRICS = Path("notebooks"), Path("reports"), Path("metrics")


def render(name: str, parameters: dict | None = None) -> Path:
    import nbformat
    import papermill as pm
    from nbconvert import HTMLExporter

    source = NOTEBOOKS / f"{name}.ipynb"
    if not source.is_file():
        raise AdvlabError(f"report: notebook {source} not found (reports in params.yaml must name notebooks/)")
    figures = REPORTS / "figures" / name
    figures.mkdir(parents=True, exist_ok=True)
    params = {"results_dir": f"results/{name}", "figures_dir": str(figures), **(parameters or {})}
    executed = REPORTS / f"{name}.ipynb"
    with atomic_path(executed, suffix=".ipynb") as tmp:
        try:
            pm.execute_notebook(str(source), str(tmp), parameters=params, kernel_name="python3",
                                progress_bar=False, cwd=str(Path.cwd()))
        except pm.PapermillExecutionError as err:
            raise AdvlabError(f"report: {source} failed in cell {err.exec_count}: {err.ename}: {err.evalue}") from None
        nb = nbformat.read(str(tmp), as_version=4)
    html, _ = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    write_text(REPORTS / f"{name}.html", html)
    return executed


def current_names(name: str, p) -> dict:
    """What the ``name`` report must show, from the current params (papermill parameters): the
    notebook filters its results to these names and says which expected ones are missing, so a
    model or case removed from params.yaml disappears from the report even if its result files
    linger (per-name files outlive their stage)."""
    if name == "models":
        return {"models": list(p.models)}
    if name == "calibration" and p.calibration is not None:
        return {"models": list(p.calibration.models), "targets": list(p.calibration.targets)}
    if name == "uncertainty" and p.uncertainty is not None:
        u = p.uncertainty
        return {"cases": [f"{est}_{m}" for est in ("softmax", "mc_dropout", "selectivenet") for m in getattr(u, est)]
                + (["ensemble"] if u.ensemble else [])}
    return {}  # evasion's notebook reads evasion.models from params.yaml; membership's results are one stage's


@stage
def main(name: str) -> None:
    p = load_params()
    numbers = headline(name, p) if name in HEADLINES.names() else {}  # a report of its own: no headline
    write_json(METRICS / f"{name}.json", numbers)
    render(name, current_names(name, p))
    print(f"rendered reports/{name}.html")


if __name__ == "__main__":
    sys.exit(main())
