"""``advlab check-reports``: open the rendered reports in headless Chromium and list what a reader
would trip over.

``reports/index.html`` and every report page it links are loaded at a 1280 px wide viewport in
the system's Chromium (Debian's ``chromium``, ``/usr/bin/chromium``; driven by Playwright, which
never downloads a browser here). Each problem is one line, ``<file>: <element>: <problem>``:

* a broken image (failed load, ``naturalWidth`` 0) or a failed load of any other local file;
* a local link (``href``) to a file that does not exist (http(s), mailto and in-page anchors are
  not checked);
* an ``<img>`` whose natural width is over twice the page width (scaled down to fit, its text is
  unreadable) or whose rendered box sticks out of the page horizontally;
* stderr text in a notebook output (nbconvert marks it ``data-mime-type=
  "application/vnd.jupyter.stderr"`` in the lab template, ``output_stderr`` in the classic one;
  warnings, tracebacks and errors land there) and warning text in any other output;
* a raw truncated dataframe: pandas' ``N rows × M columns`` footer or its ``...`` / ``…`` cells.

Every page is also saved as a full-page screenshot (``checkpoints/screenshots/`` by default,
git-ignored). Requests to the network (the templates' MathJax and require.js from a CDN) are
blocked, so the check is offline and the same on every machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from advlab.errors import AdvlabError

WIDTH = 1280  # px: the viewport the reports must read well at
HEIGHT = 900
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package `chromium`
SCREENSHOTS = Path("checkpoints/screenshots")
TIMEOUT_MS = 60_000

# What the page reports back; problems are decided in Python (`page_problems`), so the rules are
# in one place and testable on their own.
_COLLECT_JS = r"""
async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(img => img.decode().catch(() => null)));
  const heads = Array.from(document.querySelectorAll('h1, h2, h3'));
  const where = el => {
    const cell = el.closest('[id^="cell-id="]');
    let head = null;
    for (const h of heads) {
      if (h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING || h.contains(el)) head = h; else break;
    }
    const parts = [];
    if (cell) parts.push(cell.id.replace('cell-id=', 'cell '));
    if (head) parts.push('under "' + head.textContent.replace('¶', '').trim().slice(0, 60) + '"');
    return parts.join(', ');
  };
  const short = s => { s = (s || '').replace(/\s+/g, ' ').trim(); return s.length > 90 ? s.slice(0, 87) + '...' : s; };
  const page = document.documentElement.clientWidth;
  const images = imgs.map((img, i) => {
    const r = img.getBoundingClientRect();
    const src = img.getAttribute('src') || '';
    return {n: i + 1, url: img.currentSrc || img.src,
            src: src.startsWith('data:') ? src.slice(0, src.indexOf(',') + 1) + '...' : src,
            alt: short(img.getAttribute('alt')), complete: img.complete,
            natural: [img.naturalWidth, img.naturalHeight], left: r.left + window.scrollX,
            right: r.right + window.scrollX, width: r.width, where: where(img)};
  });
  const links = Array.from(document.querySelectorAll('a[href], link[href]')).map(a => ({
    tag: a.tagName.toLowerCase(), raw: a.getAttribute('href'), url: a.href,
    text: short(a.textContent), where: where(a)}));
  const stderr = Array.from(document.querySelectorAll(
      '[data-mime-type="application/vnd.jupyter.stderr"], .output_stderr')).map(el => ({
    text: short(el.textContent), where: where(el)}));
  const outputs = Array.from(document.querySelectorAll(
      '.jp-OutputArea-output:not([data-mime-type="application/vnd.jupyter.stderr"]), ' +
      '.output_subarea:not(.output_stderr)')).map(el => ({text: el.innerText || '', where: where(el)}));
  const footers = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const t = walker.currentNode;
    if (/\d+\s+rows\s*×\s*\d+\s+columns/.test(t.textContent))
      footers.push({tag: t.parentElement.tagName.toLowerCase(), text: short(t.textContent),
                    where: where(t.parentElement)});
  }
  const cells = Array.from(document.querySelectorAll('td, th'))
    .filter(c => /^(\.\.\.|…)$/.test(c.textContent.trim()))
    .map(c => ({table: c.closest('table'), where: where(c)}));
  const tables = [];
  for (const c of cells) {
    const seen = tables.find(t => t.table === c.table);
    if (seen) seen.count += 1; else tables.push({table: c.table, count: 1, where: c.where});
  }
  return {page, images, links, stderr, outputs, footers,
          ellipsis: tables.map(t => ({count: t.count, where: t.where}))};
}
"""

WARNING_TEXT = re.compile(r"\b\w*Warning: |^Traceback \(most recent call last\)|^\w*Error: |\bWARNING\b", re.M)


@dataclass
class Problem:
    file: str
    element: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.element}: {self.problem}"


def find_chromium() -> Path:
    """Debian's ``/usr/bin/chromium``, else a ``chromium`` on PATH (ADVLAB_CHROMIUM overrides)."""
    if os.environ.get("ADVLAB_CHROMIUM"):
        return Path(os.environ["ADVLAB_CHROMIUM"])
    if CHROMIUM.exists():
        return CHROMIUM
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise AdvlabError(f"no Chromium: {CHROMIUM} is missing. Install it with `apt-get update && apt-get install -y "
                      "chromium` (Debian, as root; `make test` does it), or set ADVLAB_CHROMIUM to a Chromium binary")


def _in(where: str) -> str:
    return f" ({where})" if where else ""


def _local_target(url: str) -> Path | None:
    """The file a link points at, or None for links not checked (network, mail, data, in-page)."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    return Path(unquote(parts.path))


def page_problems(name: str, page_file: Path, found: dict, failed: list[str]) -> list[Problem]:
    """The problems in what ``_COLLECT_JS`` found on one page (``failed``: local requests that failed)."""
    out: list[Problem] = []
    width = found["page"]
    for img in found["images"]:
        label = f'<img> #{img["n"]} src="{img["src"]}"{_in(img["where"])}'
        nw, nh = img["natural"]
        if not img["complete"] or nw == 0:
            out.append(Problem(name, label, "broken image (failed to load, naturalWidth 0)"))
            continue
        if nw > 2 * width:
            out.append(Problem(name, label, f"image is {nw}×{nh} px, over 2 × the {width} px page: "
                                            f"scaled to fit it is unreadable (shown {img['width']:.0f} px wide)"))
        if img["right"] > width + 0.5 or img["left"] < -0.5:
            out.append(Problem(name, label, f"image box spans x = {img['left']:.0f}..{img['right']:.0f} px, "
                                            f"overflowing the {width} px page"))
    for link in found["links"]:
        target = _local_target(link["url"])
        if target is None or target == page_file or target.exists():
            continue
        text = f' "{link["text"]}"' if link["text"] else ""
        out.append(Problem(name, f'<{link["tag"]} href="{link["raw"]}">{text}{_in(link["where"])}',
                           f"broken link: {target} does not exist"))
    shown = {img["url"] for img in found["images"]}  # a failed <img> is already a broken image
    for url in (u for u in failed if u not in shown):
        out.append(Problem(name, url, "failed to load"))
    for block in found["stderr"]:
        out.append(Problem(name, f"stderr output{_in(block['where'])}", f'"{block["text"]}"'))
    for block in found["outputs"]:
        m = WARNING_TEXT.search(block["text"])
        if m:
            line = block["text"][m.start():].splitlines()[0][:90]
            out.append(Problem(name, f"output{_in(block['where'])}", f'warning text in the output: "{line}"'))
    for footer in found["footers"]:
        out.append(Problem(name, f"<{footer['tag']}>{_in(footer['where'])}",
                           f'raw truncated dataframe: "{footer["text"]}"'))
    for table in found["ellipsis"]:
        out.append(Problem(name, f"<table>{_in(table['where'])}",
                           f"raw truncated dataframe: {table['count']} '...' cells"))
    return out


class Browser:
    """One headless Chromium for many pages (``with Browser() as b: b.check(path)``)."""

    def __init__(self, chromium: Path | None = None, width: int = WIDTH):
        self.chromium = chromium or find_chromium()
        self.width = width

    def __enter__(self) -> Browser:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as err:
            raise AdvlabError("the browser check needs Playwright, a dev dependency: run `uv sync` "
                              "(it uses the system Chromium; no `playwright install` needed)") from err
        self._pw = sync_playwright().start()
        args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses root with its sandbox
        try:
            self._browser = self._pw.chromium.launch(executable_path=str(self.chromium), headless=True, args=args)
        except Exception as err:
            self._pw.stop()
            raise AdvlabError(f"could not start {self.chromium}: {str(err).splitlines()[0]}") from err
        return self

    def __exit__(self, *exc) -> None:
        self._browser.close()
        self._pw.stop()

    def check(self, path: Path, shot: Path | None = None, name: str | None = None) -> list[Problem]:
        """Load ``path`` and return its problems; save a full-page screenshot to ``shot``."""
        path = path.resolve()
        page = self._browser.new_page(viewport={"width": self.width, "height": HEIGHT})
        failed: list[str] = []
        try:
            page.route(re.compile(r"^(https?|wss?)://"), lambda route: route.abort())
            page.on("requestfailed", lambda req: failed.append(req.url) if req.url.startswith("file:") else None)
            page.goto(path.as_uri(), wait_until="load", timeout=TIMEOUT_MS)
            found = page.evaluate(_COLLECT_JS)
            if shot is not None:
                shot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shot), full_page=True, timeout=TIMEOUT_MS)
        finally:
            page.close()
        return page_problems(name or str(path), path, found, failed)


def report_pages(reports: Path) -> list[Path]:
    """``index.html`` and every local ``.html`` page it links to (existing ones; a missing one is a
    broken link of the index), in link order."""
    index = reports / "index.html"
    if not index.is_file():
        raise AdvlabError(f"{index} does not exist: render the reports first (`dvc repro`)")
    pages = [index]
    for href in re.findall(r"""<a\s[^>]*href=["']([^"'#?]+)""", index.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", href, re.I) or not href.endswith(".html"):
            continue
        page = (reports / unquote(href)).resolve()
        if page.is_file() and page not in pages:
            pages.append(page)
    return pages


def check_reports(reports: Path, shots: Path | None = SCREENSHOTS, browser: Browser | None = None,
                  echo=None) -> list[Problem]:
    """Every problem of ``reports/index.html`` and the pages it links; screenshots in ``shots``."""
    pages = report_pages(Path(reports))
    problems: list[Problem] = []
    with nullcontext(browser) if browser is not None else Browser() as b:
        for page in pages:
            rel = os.path.relpath(page, Path.cwd())
            shot = Path(shots) / f"{page.stem}.png" if shots is not None else None
            found = b.check(page, shot, name=rel)
            if echo:
                echo(f"{rel}: {len(found)} problem(s)" + (f"; screenshot {shot}" if shot else ""))
            problems += found
    return problems


def add_parser(sub) -> None:
    p = sub.add_parser("check-reports", help="open the rendered reports in headless Chromium and list problems",
                       description="Open reports/index.html and every report it links in headless Chromium at "
                                   f"{WIDTH} px; print one line per problem (exit 1 when any) and save "
                                   "full-page screenshots.")
    p.add_argument("--reports", default="reports", help="folder with index.html (default: reports)")
    p.add_argument("--shots", default=str(SCREENSHOTS),
                   help=f"where the full-page screenshots go (default: {SCREENSHOTS}; '' for none)")
    p.add_argument("-q", "--quiet", action="store_true", help="print the problems only")


def run(args) -> int:
    """The ``check-reports`` command: 0 when every page is clean, 1 with one line per problem."""
    echo = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    problems = check_reports(Path(args.reports), Path(args.shots) if args.shots else None, echo=echo)
    for problem in problems:
        print(problem)
    if echo:
        echo(f"{len(problems)} problem(s)" if problems else "reports: no problems")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="check-reports")
    add_parser(parser.add_subparsers(dest="command", required=True))
    try:
        return run(parser.parse_args(["check-reports", *(argv if argv is not None else sys.argv[1:])]))
    except AdvlabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
