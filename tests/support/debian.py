"""The Debian packages some tests drive: chromium and its driver (the dashboard's browser test),
promtool (package ``prometheus``: the alert rules). Installed by the stack's apt helper when
missing, as root (otherwise one line saying what to install); two ``stat`` calls each when
present. ``scripts/test`` runs this module before the suite, so a fresh machine's first browser
test does not spend its time budget in apt; the tests call it too (running pytest alone).
"""

import sys
from pathlib import Path

from precache.errors import StackError
from precache.stack.install import ensure_debian_package

# chromium-driver first: it depends on chromium, so one install brings both
PACKAGES = {
    "chromium-driver": Path("/usr/bin/chromedriver"),
    "chromium": Path("/usr/bin/chromium"),
    "prometheus": Path("/usr/bin/promtool"),
}


def ensure(*names: str) -> None:
    for name in names:
        ensure_debian_package(name, PACKAGES[name])


def main() -> int:
    try:
        ensure(*PACKAGES)
    except StackError as exc:
        print(f"tests need Debian packages: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
