"""Nova's error responses: ``{"<faultName>": {"code": N, "message": "..."}}`` as JSON."""

from dataclasses import dataclass

from aiohttp import web

_NAMES = {  # nova.api.openstack.wsgi.Fault._fault_names
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}

NOT_FOUND = "The resource could not be found."


@dataclass(frozen=True)
class NovaFault(Exception):
    status: int
    message: str


def fault_response(fault: NovaFault) -> web.Response:
    name = _NAMES.get(fault.status, "computeFault")
    return web.json_response(
        {name: {"code": fault.status, "message": fault.message}}, status=fault.status
    )


def policy_fault(rule: str) -> NovaFault:
    return NovaFault(403, f"Policy doesn't allow {rule} to be performed.")
