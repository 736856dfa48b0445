"""Stage ``report@<notebook>``: execute a notebook with papermill and render it.

Writes the family's headline numbers to ``metrics/<name>.json`` (versioned in git: what
``dvc metrics diff`` and ``dvc exp show`` compare), then ``reports/<name>.ipynb`` (executed),
``reports/<name>.html`` (no code) and the notebook's PNG figures and CSV tables under
``reports/figures/<name>/``; ``reports/`` and ``metrics/`` are ``output.reports`` and
``output.metrics`` of params.yaml (``reports/<profile>/`` for any profile but the default).
Each report opens with its provenance: dataset, profile, commit, the dvc.lock hashes of its
inputs, date, machine and time to render. A report reads only its
family's ``results/<name>/`` (its DVC dependency), so a change elsewhere does not
re-render it. Notebooks only read results and draw; they never train.

A report is replaced only when the new one is complete: everything is rendered into
``checkpoints/report/<name>/`` (work in progress, git-ignored, no stage's dependency, on
the same file system) and moved into place at the end: the figures folder as a whole,
then the notebook, then the HTML. A killed stage leaves the previous report intact and
nothing under ``reports/``; its staging folder is emptied when the stage next runs. The
outs are ``persist: true`` in dvc.yaml, or DVC would delete them before the run.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from advlab import provenance
from advlab.errors import AdvlabError
from advlab.io import install, write_json
from advlab.params import PARAMS_FILE, read_yaml
from advlab.stages.common import load_params, stage
from advlab.study.headline import HEADLINES, headline

NOTEBOOKS = Path("notebooks")
STAGING = Path("checkpoints/report")


def clear_staging(name: str, reports: Path) -> Path:
    """An empty ``checkpoints/report/<name>/``; also removes the hidden ``reports/.<name>.*``
    temporary files that versions writing in place left when killed."""
    for old in reports.glob(f".{name}.*"):
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        else:
            old.unlink(missing_ok=True)
    staging = STAGING / name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def _as_if_in_place(nb, staged: str, final: str, output_path: str) -> None:
    """Make the executed notebook name the final figures folder and file, not the staging ones
    (papermill records them in the injected-parameters cell and its metadata)."""
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.source = cell.source.replace(repr(staged), repr(final)).replace(f'"{staged}"', f'"{final}"')
    meta = nb.metadata.get("papermill", {})
    if meta.get("parameters", {}).get("figures_dir") == staged:
        meta["parameters"]["figures_dir"] = final
    if "output_path" in meta:
        meta["output_path"] = output_path


def _execute(source: Path, executed: Path, params: dict) -> None:
    """papermill on a kernel reached over IPC sockets in a private temporary folder: nothing
    crosses TCP (and ipykernel's unencrypted-TCP warning does not land in every report stage)."""
    import papermill as pm
    from jupyter_client.manager import KernelManager

    with tempfile.TemporaryDirectory(prefix="advlab-kernel-") as sockets:
        km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "kernel"))
        try:
            pm.execute_notebook(str(source), str(executed), parameters=params, kernel_name="python3",
                                progress_bar=False, cwd=str(Path.cwd()), km=km)
        except pm.PapermillExecutionError as err:
            raise AdvlabError(f"report: {source} failed in cell {err.exec_count}: {err.ename}: {err.evalue}") from None
        finally:
            if km.has_kernel:
                km.shutdown_kernel(now=True)


def header(name: str, p, raw: dict, seconds: float) -> str:
    """The report's provenance, a markdown block shown first."""
    try:
        digest, hashes = provenance.stage_inputs(f"report@{name}")
        inputs = (f"`{digest[:12]}` (md5 of the {len(hashes)} dependency hashes `dvc.lock` records for "
                  f"`report@{name}`; `results/{name}` is `{hashes.get(f'results/{name}', '?')[:12]}`)")
    except Exception as err:  # noqa: BLE001 - provenance must not stop a report; say why it is missing
        inputs = f"unavailable ({type(err).__name__}: {err})"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        f"**Run provenance.** Dataset `{p.data.dataset}` · profile `{provenance.profile_state(raw, p.output.profile)}` · "
        f"commit `{provenance.commit()}` · rendered {stamp} on {provenance.machine()} "
        f"(device `{p.device}`) in {seconds:.0f} s.  ",
        f"Inputs: {inputs}.",
    ])


def render(name: str, parameters: dict | None = None, reports: Path = Path("reports"),
           preamble=None) -> Path:
    """Execute ``notebooks/<name>.ipynb`` into ``reports/`` (see the module doc); ``preamble(seconds)``,
    when given, returns a markdown block put first in the rendered report."""
    import nbformat
    from nbconvert import HTMLExporter

    source = NOTEBOOKS / f"{name}.ipynb"
    if not source.is_file():
        raise AdvlabError(f"report: notebook {source} not found (reports in params.yaml must name notebooks/)")
    started = time.perf_counter()
    staging = clear_staging(name, reports)
    figures, executed, html_file = staging / "figures", staging / f"{name}.ipynb", staging / f"{name}.html"
    final_figures, final_executed = reports / "figures" / name, reports / f"{name}.ipynb"
    figures.mkdir()
    params = {"results_dir": f"results/{name}", "figures_dir": str(figures), **(parameters or {})}
    _execute(source, executed, params)
    nb = nbformat.read(str(executed), as_version=4)
    _as_if_in_place(nb, str(figures), str(final_figures), str(final_executed))
    if preamble is not None:
        cell = nbformat.v4.new_markdown_cell(preamble(time.perf_counter() - started))
        cell.metadata["tags"] = ["provenance"]
        nb.cells.insert(0, cell)
    nbformat.write(nb, str(executed))
    html, _ = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    html_file.write_text(html)
    # Complete: move into place. Each move is atomic; the HTML (what index links) goes last.
    install(figures, final_figures)
    install(executed, final_executed)
    install(html_file, reports / f"{name}.html")
    shutil.rmtree(staging)
    return final_executed


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
        return {"cases": p.uncertainty.cases}
    return {}  # evasion's notebook reads evasion.models from params.yaml; membership's results are one stage's


@stage
def main(name: str) -> None:
    p = load_params()
    raw = read_yaml(os.environ.get("ADVLAB_PARAMS", PARAMS_FILE))
    numbers = headline(name, p) if name in HEADLINES.names() else {}  # a report of its own: no headline
    reports = Path(p.output.reports)
    render(name, current_names(name, p), reports, lambda seconds: header(name, p, raw, seconds))
    write_json(Path(p.output.metrics) / f"{name}.json", numbers)  # last, atomically (a persist out: a killed run keeps the old one)
    print(f"rendered {reports}/{name}.html")


if __name__ == "__main__":
    sys.exit(main())
