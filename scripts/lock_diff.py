"""Prints the packages whose versions in a venv differ from the lock's.

Used by `scripts/test --latest`, so that a failure there points at its candidates.
Usage: python3 scripts/lock_diff.py LOCK_EXPORT FREEZE (``uv export`` and ``uv pip freeze``).
"""

import re
import sys


def pins(path: str) -> dict[str, str]:
    """``name==version`` lines of a requirements file, by normalised name (PEP 503)."""
    found = {}
    with open(path) as lines:
        for line in lines:
            match = re.match(r"([A-Za-z0-9_.-]+)==([^\s;\\]+)", line)
            if match:
                found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


def main(lock_path: str, freeze_path: str) -> None:
    lock, latest = pins(lock_path), pins(freeze_path)
    moved = [
        f"  {name} {lock[name]} -> {latest[name]}"
        for name in sorted(lock.keys() & latest.keys())
        if lock[name] != latest[name]
    ]
    print("newer than the lock (lock -> latest):", *(moved or ["  nothing"]), sep="\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
