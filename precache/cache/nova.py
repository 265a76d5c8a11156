"""Nova and Glance through openstacksdk, with its own configuration loading.

``clouds.yaml`` (``--os-cloud`` / ``OS_CLOUD``) or the ``OS_*`` variables choose the cloud, the
auth plugin and any endpoint override; nothing here knows which Nova answers. The pre-cache call
is openstacksdk's ``aggregate_precache_images`` (microversion 2.81) inside
``global_request(...)``; Nova answers 202 with no body, so its ``x-openstack-request-id`` is read
with a response hook on the SDK's own HTTP session.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import openstack
import openstack.config
from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions as sdk_exceptions

from precache.cache.errors import NotResolved, NovaRefused, NovaUnreachable


@dataclass(frozen=True)
class NovaAggregate:
    id: int
    name: str
    uuid: str | None  # Nova shows it from microversion 2.41
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class Accepted:
    """Nova took the request: its request id (the notifications' ``_context_request_id``) and
    the global one we sent (their ``_context_global_request_id``)."""

    request_id: str | None
    global_request_id: str


class Nova:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @property
    def region_name(self) -> str | None:
        return self._conn.config.region_name or None

    def aggregate(self, wanted: str) -> NovaAggregate:
        """By id (Nova's own 404 when it has none), uuid or name."""
        with _nova_errors("finding the aggregate"):
            if wanted.isdigit():
                return _aggregate(self._conn.compute.get_aggregate(wanted))
            key = wanted.lower()
            found = [
                _aggregate(a)
                for a in self._conn.compute.aggregates()
                if a.name == wanted or (a.uuid or "").lower() == key
            ]
        if not found:
            raise NotResolved(f"Nova has no aggregate named {wanted!r}")
        if len(found) > 1:
            ids = ", ".join(str(a.id) for a in found)
            raise NotResolved(f"aggregate name {wanted!r} is ambiguous (ids {ids}): give its id")
        return found[0]

    def image_id(self, wanted: str) -> str:
        """An image id is taken as given (Nova checks it); a name is looked up in Glance."""
        if _is_uuid(wanted):
            return wanted
        with _nova_errors("looking up the image", service="the image service"):
            try:
                return str(self._conn.image.find_image(wanted, ignore_missing=False).id)
            except sdk_exceptions.DuplicateResource:
                raise NotResolved(
                    f"image name {wanted!r} is ambiguous: several images have it; give the id"
                ) from None
            except sdk_exceptions.NotFoundException:
                raise NotResolved(f"the image service has no image named {wanted!r}") from None

    def precache(self, aggregate: NovaAggregate, image_ids: list[str]) -> Accepted:
        """``POST /os-aggregates/{id}/images`` at 2.81 with a new global request id."""
        global_id = f"req-{uuid.uuid4()}"
        with (
            _nova_errors("asking Nova to cache the images"),
            self._responses() as responses,
            self._conn.global_request(global_id) as conn,
        ):
            conn.compute.aggregate_precache_images(aggregate.id, image_ids)
        suffix = f"/os-aggregates/{aggregate.id}/images"
        ours = [
            r
            for r in responses
            if r.request.method == "POST" and urlsplit(r.url).path.rstrip("/").endswith(suffix)
        ]
        request_id = None
        if ours:
            headers = ours[-1].headers
            request_id = headers.get("x-openstack-request-id") or headers.get(
                "x-compute-request-id"
            )
        return Accepted(request_id, global_id)

    @contextmanager
    def _responses(self) -> Iterator[list[Any]]:
        """Every HTTP response of the SDK's session while the block runs."""
        seen: list[Any] = []

        def hook(response: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(response)
            return response

        hooks = self._conn.session.session.hooks["response"]
        hooks.append(hook)
        try:
            yield seen
        finally:
            hooks.remove(hook)


def connect(cloud: str | None, timeout_s: float) -> Nova:
    """openstacksdk's configuration as an operator has it; ``timeout_s`` bounds each call
    unless the cloud sets its own ``api_timeout``."""
    try:
        region = openstack.config.get_cloud_region(cloud=cloud)
        if region.config.get("api_timeout") is None:
            region.config["api_timeout"] = timeout_s
        return Nova(openstack.connection.Connection(config=region))
    except (sdk_exceptions.SDKException, ksa_exceptions.ClientException) as exc:
        where = f"cloud {cloud!r}" if cloud else "OS_CLOUD / OS_* variables"
        raise NovaUnreachable(f"openstacksdk configuration ({where}): {_one_line(exc)}") from exc


@contextmanager
def _nova_errors(doing: str, service: str = "Nova") -> Iterator[None]:
    """The SDK's and keystoneauth's exceptions as one line each, the service's message kept."""
    try:
        yield
    except sdk_exceptions.HttpException as exc:
        detail = _one_line(exc.details or exc.message)
        raise NovaRefused(f"{service} refused ({exc.status_code}) {doing}: {detail}") from exc
    except (
        ksa_exceptions.ConnectFailure,
        ksa_exceptions.ConnectTimeout,
        ksa_exceptions.DiscoveryFailure,  # the version document did not come: no answer
    ) as exc:
        raise NovaUnreachable(f"cannot reach {service} {doing}: {_one_line(exc)}") from exc
    except (sdk_exceptions.SDKException, ksa_exceptions.ClientException) as exc:
        raise NovaUnreachable(f"{doing} failed: {_one_line(exc)}") from exc


def _aggregate(found: Any) -> NovaAggregate:
    return NovaAggregate(
        id=int(found.id),
        name=str(found.name),
        uuid=found.uuid,
        hosts=tuple(found.hosts or ()),
    )


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _one_line(exc: object) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
