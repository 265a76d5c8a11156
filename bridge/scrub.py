"""Removes secrets that oslo.messaging copies from the request context into notifications.

Before oslo.messaging 14.4 every notification carried the caller's ``_context_auth_token``
(a valid Keystone token) and the service catalog. They must never reach Kafka, where retention
is long and readers are many.
"""

from collections.abc import Iterable
from typing import Any


def scrub(message: dict[str, Any], secret_fields: Iterable[str]) -> dict[str, Any]:
    """Drop the deny-listed top-level fields, in place; returns the same dict."""
    for field in secret_fields:
        message.pop(field, None)
    return message
