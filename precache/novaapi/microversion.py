"""The compute API's microversion negotiation, as Nova's API does it.

``OpenStack-API-Version: compute X.Y`` (or the legacy ``X-OpenStack-Nova-API-Version: X.Y``);
none means 2.1, ``latest`` the maximum. A malformed version is a 400, one out of range a 406,
and a method that does not exist at the requested version a 404.
"""

import re
from dataclasses import dataclass

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 104)  # Nova 2026.1; the pre-cache API is 2.81
PRECACHE_VERSION = (2, 81)

_VERSION = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


@dataclass(frozen=True)
class VersionError(Exception):
    status: int
    message: str


def text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def requested(new_header: str | None, legacy_header: str | None) -> tuple[int, int]:
    """The version a request asks for; raises VersionError as Nova answers a bad one."""
    wanted = _compute_part(new_header) if new_header else None
    if wanted is None and legacy_header:
        wanted = legacy_header.strip()
    if not wanted:
        return MIN_VERSION
    if wanted.lower() == "latest":
        return MAX_VERSION
    match = _VERSION.match(wanted)
    if match is None:
        raise VersionError(
            400,
            f"API Version String {wanted} is of invalid format. Must be of format "
            "MajorNum.MinorNum.",
        )
    version = (int(match[1]), int(match[2]))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionError(
            406,
            f"Version {wanted} is not supported by the API. Minimum is {text(MIN_VERSION)} "
            f"and maximum is {text(MAX_VERSION)}.",
        )
    return version


def _compute_part(header: str) -> str | None:
    """``compute 2.81, placement 1.2`` -> ``2.81``; the compute entry only."""
    for item in header.split(","):
        service, _, version = item.strip().partition(" ")
        if service.lower() == "compute":
            return version.strip()
    return None
