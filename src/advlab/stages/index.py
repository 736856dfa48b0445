"""Stage ``index``: ``reports/index.html`` links every rendered report."""

from __future__ import annotations

import html
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from advlab.io import write_text
from advlab.stages.common import load_params, stage

REPORTS = Path("reports")


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


def build_index(names: list[str]) -> str:
    items = []
    for name in names:
        figs = sorted((REPORTS / "figures" / name).glob("*.png"))
        fig_links = " · ".join(f'<a href="figures/{name}/{f.name}">{html.escape(f.stem)}</a>' for f in figs)
        items.append(f'<li><a href="{name}.html"><b>{html.escape(_title(name))}</b></a> '
                     f'(<a href="{name}.ipynb">notebook</a>)<br><small>{fig_links}</small></li>')
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>advlab reports</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;line-height:1.5}}li{{margin:.8em 0}}</style>
</head><body>
<h1>advlab reports</h1>
<p>Attacks on what people trust in a model: predictions, confidence, uncertainty, privacy.
Rendered by <code>dvc repro</code> from <code>notebooks/</code>; {stamp}.</p>
<ul>
{chr(10).join(items)}
</ul>
</body></html>
"""


@stage
def main() -> None:
    names = [n for n in load_params().reports if (REPORTS / f"{n}.html").is_file()]
    write_text(REPORTS / "index.html", build_index(names))
    print(f"reports/index.html links {len(names)} report(s)")


if __name__ == "__main__":
    sys.exit(main())
