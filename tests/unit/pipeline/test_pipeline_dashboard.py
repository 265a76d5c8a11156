"""The dashboard's files (pipeline.dashboard): shipped in the package, self-contained (no CDN,
no inline script the Content-Security-Policy would block), and every file the page asks for is
one the worker serves. (The page at work in a real browser: tests/integration/test_dashboard.py.)"""

import re
from html.parser import HTMLParser

from precache.pipeline.dashboard import FILES, HEADERS, read


class Assets(HTMLParser):
    """The URLs the page loads, and whether it has inline scripts or styles."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.inline: list[str] = []
        self._tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self._tag = tag
        if tag == "script" and values.get("src"):
            self.loads.append(str(values["src"]))
        if tag == "link" and values.get("rel") == "stylesheet":
            self.loads.append(str(values["href"]))
        if "style" in values or any(name.startswith("on") for name in values):
            self.inline.append(tag)

    def handle_data(self, data: str) -> None:
        if self._tag in ("script", "style") and data.strip():
            self.inline.append(self._tag)


def test_the_page_loads_only_files_the_worker_serves() -> None:
    page = Assets()
    page.feed(read("index.html").decode())
    assert page.loads == ["/static/dashboard.css", "/static/dashboard.js"]
    assert {url.removeprefix("/static/") for url in page.loads} == set(FILES)
    assert page.inline == []  # the CSP allows only the page's own files


def test_nothing_comes_from_the_network() -> None:
    for name in ["index.html", *FILES]:
        text = read(name).decode()
        external = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE)
        assert external == [], (name, external)
        assert "@import" not in text, name
        assert "url(" not in text, name
    assert "connect-src 'self'" in HEADERS["Content-Security-Policy"]
    assert "script-src 'self'" in HEADERS["Content-Security-Policy"]


def test_the_script_writes_text_never_html() -> None:
    script = read("dashboard.js").decode()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink  # host and aggregate names come from notifications
