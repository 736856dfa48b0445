"""The rendered reports, opened in headless Chromium at 1280 px (``advlab check-reports``): no broken
image or local link, no image too wide to read or sticking out of the page, no stderr or warning
in a notebook output, no raw truncated dataframe. The checker's rules are tested on small
hand-written pages; the committed ``reports/`` must pass them all."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from advlab import browser_check as bc
from advlab.errors import AdvlabError

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("playwright", reason="Playwright (a dev dependency) is not installed: `uv sync`")
try:
    CHROMIUM = bc.find_chromium()
except AdvlabError:
    pytestmark = pytest.mark.skip(reason=f"Chromium is not installed ({bc.CHROMIUM}): `make test` installs it "
                                         "as root on Debian, or `apt-get update && apt-get install -y chromium`")


@pytest.fixture(scope="module")
def browser():
    with bc.Browser() as b:
        yield b


def png(width: int, height: int = 20) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def page(tmp_path: Path, body: str) -> Path:
    """A page laid out like nbconvert's lab template (cells with ids, output areas), plus two
    figures beside it: small.png (300 px) and wide.png (3000 px)."""
    (tmp_path / "small.png").write_bytes(png(300))
    (tmp_path / "wide.png").write_bytes(png(3000))
    (tmp_path / "other.html").write_text("<html><body>other</body></html>")
    path = tmp_path / "page.html"
    path.write_text(f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<style>body {{ margin: 0 8px; }} .jp-RenderedImage img {{ max-width: 100%; height: auto; }}</style></head>
<body><h2 id="Results">Results<a class="anchor-link" href="#Results">¶</a></h2>
<div class="jp-Cell jp-CodeCell" id="cell-id=abc123"><div class="jp-OutputArea">{body}</div></div>
</body></html>""", encoding="utf-8")
    return path


CLEAN = """
<div class="jp-RenderedText jp-OutputArea-output" data-mime-type="text/plain"><pre>3 models, n = 500</pre></div>
<div class="jp-RenderedImage jp-OutputArea-output"><img src="small.png"></div>
<div class="jp-RenderedImage jp-OutputArea-output"><img src="data:image/png;base64,{small}"></div>
<p>Links: <a href="other.html">other</a> · <a href="other.html#x">anchor in other</a> · <a href="#Results">here</a>
 · <a href="https://example.org/missing.html">external</a> · <a href="mailto:a@b.c">mail</a>
 · the provenance may say "(.gitignore, dvc.yaml, params.yaml, …)"</p>
<table><tr><th>eps</th><th>acc</th></tr><tr><td>0.01</td><td>0.82</td></tr></table>
"""


def test_a_clean_page_passes(tmp_path, browser):
    import base64

    body = CLEAN.replace("{small}", base64.b64encode(png(300)).decode())
    assert [str(p) for p in browser.check(page(tmp_path, body), tmp_path / "shot.png")] == []
    assert (tmp_path / "shot.png").stat().st_size > 0


DEFECTS = {  # body -> (element named in the line, problem named in the line)
    "broken image": ('<img src="figures/missing.png">', ('<img> #1 src="figures/missing.png"', "broken image")),
    "corrupt image": ('<img src="data:image/png;base64,iVBORw0KGgoAAAA">',
                      ('<img> #1 src="data:image/png;base64,..."', "broken image")),
    "missing link target": ('<a href="figures/gone.png">gone</a>',
                            ('<a href="figures/gone.png"> "gone"', "broken link")),
    "too-wide image": ('<div class="jp-RenderedImage"><img src="wide.png"></div>',
                       ('<img> #1 src="wide.png"', "3000×20 px, over 2 × the")),
    "overflowing image": ('<img src="small.png" style="width: 1500px">', ('<img> #1 src="small.png"', "overflowing")),
    "stderr block (lab)": ('<div class="jp-RenderedText jp-OutputArea-output" '
                           'data-mime-type="application/vnd.jupyter.stderr">'
                           '<pre>UserWarning: x is deprecated</pre></div>',
                           ("stderr output (cell abc123", "UserWarning: x is deprecated")),
    "stderr block (classic)": ('<div class="output_subarea output_stream output_stderr output_text">'
                               '<pre>Kernel died</pre></div>', ("stderr output", "Kernel died")),
    "warning in stdout": ('<div class="jp-RenderedText jp-OutputArea-output" data-mime-type="text/plain">'
                          '<pre>ok\nFutureWarning: the default will change</pre></div>',
                          ("output (cell abc123", "FutureWarning: the default will change")),
    "rows × footer": ('<div><table><tr><td>1</td></tr></table><p>72 rows × 8 columns</p></div>',
                      ("<p> (cell abc123", "72 rows × 8 columns")),
    "... truncation row": ('<table><tr><th>0</th><td>1</td></tr><tr><th>...</th><td>...</td></tr></table>',
                           ("<table>", "2 '...' cells")),
    "… truncation row": ('<table><tr><td>1</td></tr><tr><td>…</td></tr></table>', ("<table>", "1 '...' cells")),
}


@pytest.mark.parametrize("defect", DEFECTS)
def test_each_defect_is_reported_once_naming_file_and_element(tmp_path, browser, defect):
    body, (element, problem) = DEFECTS[defect]
    path = page(tmp_path, body)
    lines = [str(p) for p in browser.check(path, name="page.html")]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"page.html: {element}"), lines
    assert problem in lines[0], lines
    assert 'under "Results"' in lines[0], lines


def test_check_reports_follows_the_index_and_the_cli_exits_1(tmp_path, capsys, monkeypatch, browser):
    from contextlib import nullcontext

    from advlab import cli

    monkeypatch.setattr(bc, "Browser", lambda: nullcontext(browser))  # one Playwright per process

    page(tmp_path, '<p>10 rows × 2 columns</p>')
    (tmp_path / "index.html").write_text('<a href="page.html">page</a> <a href="gone.html">gone</a>'
                                         ' <a href="page.ipynb">notebook</a>')
    monkeypatch.chdir(tmp_path)
    assert [p.name for p in bc.report_pages(tmp_path)] == ["index.html", "page.html"]
    assert cli.main(["check-reports", "--reports", str(tmp_path), "--shots", "shots", "-q"]) == 1
    lines = capsys.readouterr().out.splitlines()
    missing = "broken link: {} does not exist"
    assert lines == [f'index.html: <a href="gone.html"> "gone": {missing.format(tmp_path / "gone.html")}',
                     f'index.html: <a href="page.ipynb"> "notebook": {missing.format(tmp_path / "page.ipynb")}',
                     'page.html: <p> (cell abc123, under "Results"): raw truncated dataframe: "10 rows × 2 columns"']
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == ["index.png", "page.png"]


def test_committed_reports_pass_in_a_real_browser(browser):
    """The acceptance check of the committed reports (what `make check-reports` prints)."""
    problems = bc.check_reports(ROOT / "reports", None, browser=browser)  # no screenshots: faster
    assert not problems, "\n".join(str(p) for p in problems)
