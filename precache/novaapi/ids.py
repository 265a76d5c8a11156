"""Request ids as Nova's API assigns them (oslo.middleware's RequestId middleware).

Every response carries a new ``req-<uuid>`` in ``x-openstack-request-id`` (and, for the compute
API, ``x-compute-request-id``). A client's ``X-OpenStack-Request-ID`` becomes the global request
id only in the ``req-<uuid>`` form; anything else is dropped, as oslo.middleware does.
"""

import re
import uuid

GLOBAL_ID = re.compile(r"^req-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


def global_request_id(header: str | None) -> str | None:
    """The client's id when it is a valid global request id, else None."""
    if header is not None and GLOBAL_ID.match(header):
        return header
    return None
