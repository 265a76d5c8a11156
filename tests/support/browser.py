"""A real headless browser for the tests: Debian's chromium, driven through chromium-driver
(both installed by :mod:`tests.support.debian` when missing)."""

import contextlib
from collections.abc import Iterator
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.debian import PACKAGES, ensure

CHROMIUM = PACKAGES["chromium"]
CHROMEDRIVER = PACKAGES["chromium-driver"]
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@contextlib.contextmanager
def headless_chromium(
    profile: Path, size: tuple[int, int] = (1440, 900)
) -> Iterator[webdriver.Chrome]:
    """A chromium with a fresh profile in ``profile``; quit at the end."""
    ensure("chromium-driver", "chromium")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={size[0]},{size[1]}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


# the colours an element is drawn in: its own text colour and the first opaque background up
# its ancestors (the page's white when none is)
_COLOURS = """
const out = [];
for (const node of document.querySelectorAll(arguments[0])) {
  let back = null;
  for (let n = node; n && !back; n = n.parentElement) {
    const c = getComputedStyle(n).backgroundColor;
    if (c && c !== "rgba(0, 0, 0, 0)" && c !== "transparent") back = c;
  }
  out.push([getComputedStyle(node).color, back || "rgb(255, 255, 255)"]);
}
return out;
"""


def _luminance(css: str) -> float:
    """WCAG 2 relative luminance of ``rgb(r, g, b)``."""
    r, g, b = (int(v) / 255 for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else float(((c + 0.055) / 1.055) ** 2.4)

    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def contrast_ratios(driver: WebDriver, selector: str) -> list[float]:
    """WCAG contrast ratio of the text of each element matching ``selector``."""
    ratios = []
    for fg, bg in driver.execute_script(_COLOURS, selector):
        light, dark = sorted((_luminance(fg), _luminance(bg)), reverse=True)
        ratios.append((light + 0.05) / (dark + 0.05))
    return ratios
