"""The equations as a reader sees them: the built pages in headless Chromium, offline.

The site is served from 127.0.0.1 and every request to another host is refused and recorded, so
the pages must render with the MathJax they ship. Needs Playwright's Python package and a
Chromium (Debian's ``chromium``, or one that ``playwright install chromium`` fetched); skipped
with the reason where either is missing.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.docs, pytest.mark.slow]  # a browser start and ~20 pages: ~20 s

#: Where the formulas are (every neuron model, the functional pages, the NIR mapping); of these,
#: the pages that have any are loaded.
PAGES = ("models/*.html", "api/functional/*.html", "api/functional.html", "api/nir.html",
         "api/nn.html")

#: Flags that keep Chromium from calling home (refused here, many at a time, and slow).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Waits for MathJax and reports what it made of the page.
REPORT = """async () => {
  if (!window.MathJax || !MathJax.startup) return {loaded: false};
  await MathJax.startup.promise;
  const math = [...document.querySelectorAll('.math')];
  return {
    loaded: true,
    version: MathJax.version,
    math: math.length,
    rendered: document.querySelectorAll('mjx-container').length,
    errors: [...document.querySelectorAll('mjx-merror, [data-mjx-error]')].map(
      (e) => e.getAttribute('data-mjx-error') || e.textContent),
    raw: math.filter((e) => !e.querySelector('mjx-container')).map((e) => e.textContent.slice(0, 80)),
    erroneous: document.body.innerText.includes('Erroneous nesting'),
    // an unknown macro is typeset as red text, not as an error
    undefined: document.querySelectorAll('mjx-container [style*="color: red"]').length,
  };
}"""


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    with playwright.sync_playwright() as session:
        try:
            chromium = session.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Exception as error:  # no browser: neither Debian's nor Playwright's own
            pytest.skip(f"no Chromium to run: {str(error).splitlines()[0]}")
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site(docs_build):
    assert docs_build.returncode == 0, f"sphinx-build failed:\n{docs_build.stderr[-6000:]}"
    handler = functools.partial(QuietHandler, directory=str(docs_build.out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield docs_build.out, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_equations_render_offline_in_a_browser(browser, site):
    out, base = site
    pages = sorted(
        page
        for page in {page for pattern in PAGES for page in out.glob(pattern)}
        if 'class="math notranslate' in page.read_text(encoding="utf-8")
    )
    assert len(pages) >= 16, [str(page) for page in pages]
    refused: list[str] = []

    def only_local(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context = browser.new_context()
    context.route("**/*", only_local)
    page = context.new_page()
    problems = []
    for path in pages:
        name = str(path.relative_to(out))
        page.goto(f"{base}/{name}", wait_until="load")
        report = page.evaluate(REPORT)
        if not report["loaded"]:
            problems.append(f"{name}: MathJax did not load")
            continue
        assert report["version"].startswith("3."), report["version"]
        if report["math"] == 0:
            problems.append(f"{name}: no formulas found")
        if report["errors"] or report["erroneous"]:
            problems.append(f"{name}: MathJax errors {report['errors'][:5]}")
        if report["undefined"]:
            problems.append(f"{name}: {report['undefined']} unknown macros (red text)")
        if report["raw"] or report["rendered"] < report["math"]:
            problems.append(f"{name}: {len(report['raw'])} formulas left as TeX: {report['raw'][:3]}")
    context.close()
    assert not problems, "\n".join(problems)
    assert not refused, f"the pages asked for other hosts: {sorted(set(refused))[:10]}"
