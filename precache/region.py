"""What a region name may be: one rule for the bridge (which stamps it on every record) and
the worker (which reads it back), so a region the worker would refuse never starts a bridge.

The name is part of every operation id (``region/aggregate/request``): no ``/``; and it is
shown in terminals: 1 to 255 printable characters (no control or format character).
"""

MAX_REGION = 255


def region_problem(value: str) -> str | None:
    """Why ``value`` cannot be a region name, or None if it can."""
    if not 0 < len(value) <= MAX_REGION:
        return f"must be 1 to {MAX_REGION} characters"
    if not value.isprintable():
        return "must be printable (no control or format character)"
    if "/" in value:
        return "must not contain '/' (it separates the parts of an operation id)"
    return None
