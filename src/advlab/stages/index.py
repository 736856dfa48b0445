"""Stage ``index``: ``reports/index.html`` links every rendered report, with its family's headline
numbers (``metrics/<family>.json``) beside the link and the run's provenance on top. ``reports/``
and ``metrics/`` are ``output.reports`` and ``output.metrics`` of params.yaml."""

from __future__ import annotations

import html
import json
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

from advlab import provenance
from advlab.io import write_text
from advlab.params import PARAMS_FILE, read_yaml
from advlab.stages.common import load_params, stage

PERCENT = ("accuracy", "rate", "tpr")  # headline keys that are fractions: shown as percentages


def _title(name: str) -> str:
    """The first markdown heading of the notebook, else its name."""
    try:
        nb = json.loads((Path("notebooks") / f"{name}.ipynb").read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                for line in "".join(cell["source"]).splitlines():
                    if line.startswith("#"):
                        return line.lstrip("#").strip()
    except (OSError, ValueError, KeyError):
        pass
    return name


def headline(path: Path) -> str:
    """``clean accuracy 89.8 % · ECE 0.00517 · …`` from a family's metrics file ('' when absent)."""
    try:
        numbers = json.loads(path.read_text())
    except (OSError, ValueError):
        return ""
    shown = []
    for key, value in numbers.items():
        if not isinstance(value, (int, float)):
            continue
        text = f"{100 * value:.1f} %" if any(w in key for w in PERCENT) else f"{value:.3g}"
        label = key.replace("_", " ").replace("pct", "%").replace(" ece", " ECE").replace("ece ", "ECE ")
        label = re.sub(r"(\d) (\d)", r"\1.\2", label).replace("auroc", "AUROC").replace("aurc", "AURC").replace("auc", "AUC").replace("tpr", "TPR").replace("fpr", "FPR")
        shown.append(f"{html.escape(label)} <b>{text}</b>")
    return " · ".join(shown)


def claim_counts(path: Path) -> str:
    """`` · SPEC §6 claims: holds 3, inconclusive 1`` from a report's claims.csv ('' when absent)."""
    import csv

    try:
        with open(path) as fh:
            verdicts = [row["verdict"].split(" (")[0] for row in csv.DictReader(fh)]
    except (OSError, KeyError):
        return ""
    if not verdicts:
        return ""
    counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
    return (f' · <a href="figures/{html.escape(path.parent.name)}/claims.csv">SPEC §6 claims</a>: '
            + ", ".join(f"{html.escape(v)} <b>{n}</b>" for v, n in counts.items()))


def build_index(names: list[str], reports: Path = Path("reports"), metrics: Path = Path("metrics"),
                about: str = "") -> str:
    items = []
    for name in names:
        figs = sorted((reports / "figures" / name).glob("*.png"))
        numbers = headline(metrics / f"{name}.json") + claim_counts(reports / "figures" / name / "claims.csv")
        fig_links = " · ".join(f'<a href="figures/{name}/{f.name}">{html.escape(f.stem)}</a>' for f in figs)
        items.append(f'<li><a href="{name}.html"><b>{html.escape(_title(name))}</b></a> '
                     f'(<a href="{name}.ipynb">notebook</a>)<br>{numbers}{"<br>" if numbers else ""}'
                     f'<small>figures: {fig_links}</small></li>')
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>advlab reports</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;line-height:1.5}}li{{margin:.8em 0}}</style>
</head><body>
<h1>advlab reports</h1>
<p>Attacks on what people trust in a model: predictions, confidence, uncertainty, privacy.
Rendered by <code>dvc repro</code> from <code>notebooks/</code>; {stamp}. {about}
Headline numbers are <code>metrics/&lt;family&gt;.json</code> (<code>dvc metrics show</code>); each report opens
with its own provenance.</p>
<ul>
{chr(10).join(items)}
</ul>
</body></html>
"""


@stage
def main() -> None:
    p = load_params()
    raw = read_yaml(os.environ.get("ADVLAB_PARAMS", PARAMS_FILE))
    reports, metrics = Path(p.output.reports), Path(p.output.metrics)
    names = [n for n in p.reports if (reports / f"{n}.html").is_file()]
    about = html.escape(f"Dataset {p.data.dataset}, profile {provenance.profile_state(raw, p.output.profile)}, "
                        f"commit {provenance.commit()}.")
    write_text(reports / "index.html", build_index(names, reports, metrics, about))
    print(f"{reports}/index.html links {len(names)} report(s)")


if __name__ == "__main__":
    sys.exit(main())
