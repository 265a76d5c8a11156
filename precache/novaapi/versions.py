"""Version documents: Nova's ``GET /`` and ``GET /v2.1``, Glance's ``GET /image``."""

from typing import Any

from precache.novaapi.microversion import MAX_VERSION, MIN_VERSION, text

_DOCS = [{"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}]


def _compute_versions(base: str) -> list[dict[str, Any]]:
    return [
        {
            "id": "v2.0",
            "status": "SUPPORTED",
            "version": "",
            "min_version": "",
            "updated": "2011-01-21T11:33:21Z",
            "links": [{"rel": "self", "href": f"{base}/v2/"}],
        },
        {
            "id": "v2.1",
            "status": "CURRENT",
            "version": text(MAX_VERSION),
            "min_version": text(MIN_VERSION),
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{base}/v2.1/"}],
        },
    ]


def compute_root(base: str) -> dict[str, Any]:
    return {"versions": _compute_versions(base)}


def compute_v21(base: str) -> dict[str, Any]:
    version = {
        **_compute_versions(base)[1],
        "links": [{"rel": "self", "href": f"{base}/v2.1/"}, *_DOCS],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }
    return {"version": version}


def image_root(base: str) -> dict[str, Any]:
    """Glance answers its root with 300 Multiple Choices and this body."""
    return {
        "versions": [
            {"id": v, "status": s, "links": [{"rel": "self", "href": f"{base}/image/v2/"}]}
            for v, s in (("v2.17", "CURRENT"), ("v2.16", "SUPPORTED"), ("v2.0", "SUPPORTED"))
        ]
    }
