"""A real headless browser for the tests: Debian's chromium, driven through chromium-driver.

Both packages are installed by the project's own code (``precache.stack``'s apt helper, the
one that installs the brokers' packages) on a machine that lacks them; where they are present
this costs two ``stat`` calls.
"""

import contextlib
from collections.abc import Iterator
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from precache.stack.install import ensure_debian_package

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
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


def ensure_chromium() -> None:
    ensure_debian_package("chromium", CHROMIUM)
    ensure_debian_package("chromium-driver", CHROMEDRIVER)


@contextlib.contextmanager
def headless_chromium(
    profile: Path, size: tuple[int, int] = (1440, 900)
) -> Iterator[webdriver.Chrome]:
    """A chromium with a fresh profile in ``profile``; quit at the end."""
    ensure_chromium()
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
