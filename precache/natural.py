"""Natural order of host names: ``host2`` before ``host10``; one order for pipeline and watcher.

The order, decided once (docs/pipeline-input.md):

1. Names are split into runs of ASCII digits and runs of anything else.
2. Runs are compared left to right; a digit run sorts before a text run at the same place, and
   a name that is a prefix of another (run by run) sorts first.
3. Digit runs compare by numeric value: leading zeros ignored, then fewer digits first, then
   the digits as text. This is the order of ``int()`` for any length, without calling ``int()``
   (which refuses strings over 4,300 digits and costs quadratic time on long ones).
4. Text runs compare case-insensitively (``str.casefold``).
5. Names still equal (``Host1``/``host1``, ``a01``/``a1``) are ordered by their code points, so
   the order is total: only equal strings tie, and every sort gives one result.
"""

import re
from collections.abc import Iterable

_DIGIT_RUNS = re.compile(r"([0-9]+)")  # captured: split() alternates text, digits, text, ...

NaturalKey = tuple[tuple[str | int, ...], str]


def natural_key(name: str) -> NaturalKey:
    """Sort key for :func:`sorted`, ``bisect`` and ``min``/``max``: see the module's order.

    Flat and positional, so comparing two keys never compares unlike types: ``(text,
    digit count, digits, text, digit count, digits, ..., text)`` (the first text run may be
    empty, which is how a name starting with digits sorts before one starting with text).
    """
    runs = _DIGIT_RUNS.split(name)
    key: list[str | int] = [runs[0].casefold()]
    for i in range(1, len(runs), 2):
        digits = runs[i].lstrip("0")
        key += (len(digits), digits, runs[i + 1].casefold())
    return tuple(key), name


def natural_sorted(names: Iterable[str]) -> list[str]:
    return sorted(names, key=natural_key)
