"""The HTTP side of the stand-in: Nova's compute API subset and Glance's image lookup.

Compute, under ``/v2.1``: ``GET /os-aggregates``, ``GET /os-aggregates/{id}``,
``POST /os-aggregates/{id}/images`` (2.81+), ``POST /os-aggregates/{id}/action`` with
``add_host`` (the next host of the aggregate's prefix: ``guaranine96`` after 95 hosts; no
notification is sent for it). Image, under ``/image``: ``GET /v2/images`` (with
``name`` and ``os_hidden`` filters) and ``GET /v2/images/{id}``. Authentication is Nova's
noauth2: ``X-Auth-Token: user:project``, only the user ``admin`` is an admin (keystoneauth's
``none`` plugin sends the token ``notused``: not an admin); a compute call without a token gets
noauth2's 204 with a token to use. Aggregates are admin-only, as Nova's default policy has them.
"""

from typing import Any

import jsonschema
import structlog
from aiohttp import web

from precache.novaapi import versions
from precache.novaapi.conductor import Conductor
from precache.novaapi.config import StandInAggregate, StandInConfig, StandInImage
from precache.novaapi.faults import NOT_FOUND, NovaFault, fault_response, policy_fault
from precache.novaapi.ids import global_request_id, new_request_id
from precache.novaapi.microversion import (
    PRECACHE_VERSION,
    VersionError,
    requested,
    text,
)

log = structlog.get_logger(__name__)

CONFIG = web.AppKey("config", StandInConfig)
CONDUCTOR = web.AppKey("conductor", Conductor)
LIVE: web.AppKey[dict[int, "_Live"]] = web.AppKey("live")
REQUEST_ID = web.RequestKey("request_id", str)
GLOBAL_REQUEST_ID: web.RequestKey[str | None] = web.RequestKey("global_request_id")
VERSION: web.RequestKey[tuple[int, int]] = web.RequestKey("version")

_COMPUTE = "/v2.1"
_CREATED_AT = "2019-10-08T15:15:27.000000"
_VARY = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"

# nova/api/openstack/compute/schemas/aggregate_images.py
_CACHE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "cache": {
            "type": ["array"],
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {"id": {"type": "string", "format": "uuid"}},
                "additionalProperties": False,
                "required": ["id"],
            },
        },
    },
    "required": ["cache"],
    "additionalProperties": False,
}
_FORMATS = jsonschema.FormatChecker(["uuid"])  # Nova checks image ids are uuids


def build_app(config: StandInConfig, conductor: Conductor) -> web.Application:
    app = web.Application(middlewares=[_request_ids, _compute_version])
    app[CONFIG] = config
    app[CONDUCTOR] = conductor
    app[LIVE] = {a.id: _Live(a) for a in config.aggregates}
    app.router.add_get("/", _compute_root)
    app.router.add_get(_COMPUTE, _compute_v21)
    app.router.add_get(f"{_COMPUTE}/", _compute_v21)
    app.router.add_get(f"{_COMPUTE}/os-aggregates", _aggregates)
    app.router.add_get(f"{_COMPUTE}/os-aggregates/{{id}}", _aggregate)
    app.router.add_post(f"{_COMPUTE}/os-aggregates/{{id}}/images", _precache)
    app.router.add_post(f"{_COMPUTE}/os-aggregates/{{id}}/action", _action)
    app.router.add_get("/image", _image_root)
    app.router.add_get("/image/", _image_root)
    app.router.add_get("/image/v2/images", _images)
    app.router.add_get("/image/v2/images/{id}", _image)
    return app


@web.middleware
async def _request_ids(request: web.Request, handler: Any) -> web.StreamResponse:
    """A new request id on every response; the client's global id kept when well formed."""
    request_id = new_request_id()
    request[REQUEST_ID] = request_id
    request[GLOBAL_REQUEST_ID] = global_request_id(request.headers.get("X-OpenStack-Request-ID"))
    try:
        response: web.StreamResponse = await handler(request)
    except NovaFault as fault:
        response = fault_response(fault)
    except web.HTTPException as exc:  # no such route or method: Nova's fault body
        message = NOT_FOUND if exc.status == 404 else exc.reason
        response = fault_response(NovaFault(exc.status, message))
    response.headers["x-openstack-request-id"] = request_id
    if _is_compute(request):
        response.headers["x-compute-request-id"] = request_id
    log.info(
        "request",
        method=request.method,
        path=request.path_qs,
        status=response.status,
        request_id=request_id,
        global_request_id=request[GLOBAL_REQUEST_ID],
    )
    return response


@web.middleware
async def _compute_version(request: web.Request, handler: Any) -> web.StreamResponse:
    """Microversion of a compute API call (not of the version documents), echoed back."""
    if not request.path.startswith(f"{_COMPUTE}/") or request.path == f"{_COMPUTE}/":
        return await handler(request)  # type: ignore[no-any-return]
    try:
        version = requested(
            request.headers.get("OpenStack-API-Version"),
            request.headers.get("X-OpenStack-Nova-API-Version"),
        )
    except VersionError as exc:
        raise NovaFault(exc.status, exc.message) from exc
    request[VERSION] = version
    if "X-Auth-Token" not in request.headers:
        return _noauth_token(request)
    try:
        response: web.StreamResponse = await handler(request)
    except NovaFault as fault:
        response = fault_response(fault)
    response.headers["OpenStack-API-Version"] = f"compute {text(version)}"
    response.headers["X-OpenStack-Nova-API-Version"] = text(version)
    response.headers["Vary"] = _VARY
    return response


def _is_compute(request: web.Request) -> bool:
    return request.path == "/" or request.path.startswith(_COMPUTE)


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def _compute_root(request: web.Request) -> web.Response:
    return web.json_response(versions.compute_root(_base(request)))


async def _compute_v21(request: web.Request) -> web.Response:
    return web.json_response(versions.compute_v21(_base(request)))


async def _image_root(request: web.Request) -> web.Response:
    return web.json_response(versions.image_root(_base(request)), status=300)


def _noauth_token(request: web.Request) -> web.Response:
    """noauth2's answer to a request without a token: 204 and a token to send."""
    user = request.headers.get("X-Auth-User", "admin")
    project = request.headers.get("X-Auth-Project-Id", "admin")
    response = web.Response(status=204, content_type="text/plain")
    response.headers["X-Auth-Token"] = f"{user}:{project}"
    response.headers["X-Server-Management-Url"] = str(request.url).rstrip("/")
    return response


def _authorize(request: web.Request, rule: str, *, readers: bool) -> None:
    """noauth2: ``X-Auth-Token: user:project``; admin-only rules, readers for index/show."""
    user = request.headers.get("X-Auth-Token", "").partition(":")[0]
    if user == "admin" or (readers and user in request.app[CONFIG].readers):
        return
    raise policy_fault(rule)


def _aggregate_view(aggregate: StandInAggregate, version: tuple[int, int]) -> dict[str, Any]:
    view: dict[str, Any] = {
        "availability_zone": None,
        "created_at": _CREATED_AT,
        "deleted": False,
        "deleted_at": None,
        "hosts": aggregate.host_names(),
        "id": aggregate.id,
        "metadata": {},
        "name": aggregate.name,
        "updated_at": None,
    }
    if version >= (2, 41):
        view["uuid"] = aggregate.uuid
    return view


async def _aggregates(request: web.Request) -> web.Response:
    _authorize(request, "os_compute_api:os-aggregates:index", readers=True)
    version = request[VERSION]
    live = request.app[LIVE]
    found = [_aggregate_view(live[a.id].now, version) for a in request.app[CONFIG].aggregates]
    return web.json_response({"aggregates": found})


async def _aggregate(request: web.Request) -> web.Response:
    _authorize(request, "os_compute_api:os-aggregates:show", readers=True)
    aggregate = _find_aggregate(request)
    return web.json_response({"aggregate": _aggregate_view(aggregate, request[VERSION])})


def _find_aggregate(request: web.Request) -> StandInAggregate:
    raw = request.match_info["id"]
    try:
        aggregate_id = int(raw)
    except ValueError:
        raise NovaFault(400, "Invalid input received: id must be an integer") from None
    if aggregate_id not in request.app[LIVE]:
        raise NovaFault(404, f"Aggregate {raw} could not be found.")
    return request.app[LIVE][aggregate_id].now


async def _precache(request: web.Request) -> web.Response:
    """``POST /os-aggregates/{id}/images``, in the order Nova checks: version, body, policy,
    id, duplicates, aggregate, images (the conductor's API looks each one up in Glance)."""
    if request[VERSION] < PRECACHE_VERSION:
        raise NovaFault(404, NOT_FOUND)
    image_ids = _validated_cache(await _json_body(request))
    _authorize(request, "compute:aggregates:images", readers=False)
    if sorted(image_ids) != sorted(set(image_ids)):
        raise NovaFault(400, "Duplicate images in request")
    aggregate = _find_aggregate(request)
    config = request.app[CONFIG]
    for image_id in image_ids:
        if config.image(image_id) is None:
            raise NovaFault(400, f"Image {image_id} could not be found.")
    if aggregate.hosts:
        live = request.app[LIVE][aggregate.id]
        live.requests += 1
        plan = aggregate.plan(
            tuple(image_ids), request[REQUEST_ID], request[GLOBAL_REQUEST_ID], live.requests
        )
        request.app[CONDUCTOR].cache_images(plan)
    return web.Response(status=202)


class _Live:
    """An aggregate as it is now: its config with the hosts added since, and how many
    pre-cache requests it took."""

    def __init__(self, aggregate: StandInAggregate) -> None:
        self.now = aggregate
        self.requests = 0


async def _action(request: web.Request) -> web.Response:
    """``POST /os-aggregates/{id}/action`` ``{"add_host": {"host": ...}}``: Nova's 404 for a
    host it does not know (here: any but the next of the prefix), 409 for a member."""
    body = await _json_body(request)
    host = body.get("add_host", {}).get("host") if isinstance(body, dict) else None
    if not isinstance(host, str) or len(body) != 1:
        raise NovaFault(400, "Invalid input for field/attribute add_host.")
    _authorize(request, "os_compute_api:os-aggregates:add_host", readers=False)
    aggregate = _find_aggregate(request)
    if host in aggregate.host_names():
        raise NovaFault(409, f"Aggregate {aggregate.id} already has host {host}.")
    if host != f"{aggregate.host_prefix}{aggregate.hosts + 1}":
        raise NovaFault(404, f"Compute host {host} could not be found.")
    grown = aggregate.model_copy(update={"hosts": aggregate.hosts + 1})
    request.app[LIVE][aggregate.id].now = grown
    return web.json_response({"aggregate": _aggregate_view(grown, request[VERSION])})


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise NovaFault(400, "Malformed request body") from None


def _validated_cache(body: Any) -> list[str]:
    """Nova's schema check and message: ``Invalid input for field/attribute ...``."""
    try:
        jsonschema.Draft4Validator(_CACHE_SCHEMA, format_checker=_FORMATS).validate(body)
    except jsonschema.ValidationError as exc:
        if exc.path:
            field = exc.path.pop()
            detail = (
                f"Invalid input for field/attribute {field}. Value: {exc.instance}. {exc.message}"
            )
        else:
            detail = exc.message
        raise NovaFault(400, detail) from None
    return [str(item["id"]) for item in body["cache"]]


def _image_view(image: StandInImage, request: web.Request) -> dict[str, Any]:
    return {
        "id": image.id,
        "name": image.name,
        "status": "active",
        "visibility": "public",
        "os_hidden": False,
        "protected": False,
        "disk_format": "qcow2",
        "container_format": "bare",
        "min_disk": 0,
        "min_ram": 0,
        "tags": [],
        "created_at": "2019-10-08T15:00:00Z",
        "updated_at": "2019-10-08T15:00:00Z",
        "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image",
    }


async def _images(request: web.Request) -> web.Response:
    """Glance's list with the filters openstacksdk's ``find_image`` uses; no hidden images."""
    found = list(request.app[CONFIG].images)
    if "name" in request.query:
        found = [i for i in found if i.name == request.query["name"]]
    if request.query.get("os_hidden", "false").lower() == "true":
        found = []
    return web.json_response(
        {
            "images": [_image_view(i, request) for i in found],
            "first": "/v2/images",
            "schema": "/v2/schemas/images",
        }
    )


async def _image(request: web.Request) -> web.Response:
    image_id = request.match_info["id"]
    image = request.app[CONFIG].image(image_id)
    if image is None:
        return web.Response(
            status=404,
            text=f"404 Not Found\n\nNo image found with ID {image_id}\n\n   ",
            content_type="text/plain",
        )
    return web.json_response(_image_view(image, request))
