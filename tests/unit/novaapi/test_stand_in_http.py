"""The stand-in's HTTP contract, over real HTTP in-process: what Nova answers, byte for byte
where it matters (status codes, fault bodies, microversion and request-id headers)."""

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from precache.novaapi.app import build_app
from precache.novaapi.conductor import Conductor
from precache.novaapi.config import StandInConfig, StandInImage
from precache.simulate.plan import DEMO_IMAGE, SimulationPlan
from precache.simulate.settings import SimulateSettings

ADMIN = {"X-Auth-Token": "admin:admin"}
AT_281 = {**ADMIN, "OpenStack-API-Version": "compute 2.81"}
REQ_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
GLOBAL = "req-12345678-1234-4234-8234-123456789012"


class RecordingConductor(Conductor):
    """Keeps the plans instead of sending them: the HTTP side is what is tested here."""

    def __init__(self) -> None:
        super().__init__(SimulateSettings())
        self.plans: list[SimulationPlan] = []

    def cache_images(self, plan: SimulationPlan) -> None:
        self.plans.append(plan)


@pytest.fixture
def conductor() -> RecordingConductor:
    return RecordingConductor()


@pytest.fixture
async def client(conductor: RecordingConductor) -> AsyncIterator[TestClient[Any, Any]]:
    config = StandInConfig(
        images=[StandInImage(id=DEMO_IMAGE, name="my-application-image")], readers=["viewer"]
    )
    async with TestClient(TestServer(build_app(config, conductor))) as client:
        yield client


async def test_version_documents(client: TestClient[Any, Any]) -> None:
    root = await client.get("/")
    assert root.status == 200
    v21 = next(v for v in (await root.json())["versions"] if v["id"] == "v2.1")
    assert (v21["min_version"], v21["status"]) == ("2.1", "CURRENT")
    assert tuple(map(int, v21["version"].split("."))) >= (2, 81)
    doc = await (await client.get("/v2.1/")).json()
    assert doc["version"]["links"][0]["rel"] == "self"


async def test_accepted_request_202_no_body_ids_and_the_conductor_run(
    client: TestClient[Any, Any], conductor: RecordingConductor
) -> None:
    response = await client.post(
        "/v2.1/os-aggregates/2/images",
        json={"cache": [{"id": DEMO_IMAGE}]},
        headers={**AT_281, "X-OpenStack-Request-ID": GLOBAL},
    )
    assert response.status == 202
    assert await response.read() == b""
    request_id = response.headers["x-openstack-request-id"]
    assert REQ_ID.match(request_id)
    assert response.headers["x-compute-request-id"] == request_id
    assert response.headers["OpenStack-API-Version"] == "compute 2.81"
    assert response.headers["X-OpenStack-Nova-API-Version"] == "2.81"
    [plan] = conductor.plans
    assert (plan.request_id, plan.global_request_id) == (request_id, GLOBAL)
    assert (plan.aggregate_name, plan.hosts, plan.images) == ("my-application", 95, (DEMO_IMAGE,))
    assert plan.failing == frozenset(range(2, 10))


async def test_a_global_id_not_in_req_uuid_form_is_dropped(
    client: TestClient[Any, Any], conductor: RecordingConductor
) -> None:
    response = await client.post(
        "/v2.1/os-aggregates/2/images",
        json={"cache": [{"id": DEMO_IMAGE}]},
        headers={**AT_281, "X-OpenStack-Request-ID": "my-own-id"},
    )
    assert response.status == 202
    assert conductor.plans[0].global_request_id is None


@pytest.mark.parametrize(
    ("headers", "body", "path", "status", "fault"),
    [
        (
            {**ADMIN, "OpenStack-API-Version": "compute 2.80"},
            {"cache": [{"id": DEMO_IMAGE}]},
            "/v2.1/os-aggregates/2/images",
            404,
            {"itemNotFound": {"code": 404, "message": "The resource could not be found."}},
        ),
        (
            ADMIN,
            {"cache": [{"id": DEMO_IMAGE}]},  # no version header: 2.1
            "/v2.1/os-aggregates/2/images",
            404,
            {"itemNotFound": {"code": 404, "message": "The resource could not be found."}},
        ),
        (
            {**ADMIN, "X-OpenStack-Nova-API-Version": "2.81"},
            {"cache": [{"id": DEMO_IMAGE}]},
            "/v2.1/os-aggregates/7/images",
            404,
            {"itemNotFound": {"code": 404, "message": "Aggregate 7 could not be found."}},
        ),
        (
            {**AT_281, "X-Auth-Token": "viewer:demo"},
            {"cache": [{"id": DEMO_IMAGE}]},
            "/v2.1/os-aggregates/2/images",
            403,
            {
                "forbidden": {
                    "code": 403,
                    "message": "Policy doesn't allow compute:aggregates:images to be performed.",
                }
            },
        ),
        (
            AT_281,
            {"cache": [{"id": DEMO_IMAGE}, {"id": DEMO_IMAGE}]},
            "/v2.1/os-aggregates/2/images",
            400,
            {"badRequest": {"code": 400, "message": "Duplicate images in request"}},
        ),
        (
            AT_281,
            {"cache": [{"id": "0b6f6f0e-0000-4000-8000-00000000dead"}]},
            "/v2.1/os-aggregates/2/images",
            400,
            {
                "badRequest": {
                    "code": 400,
                    "message": "Image 0b6f6f0e-0000-4000-8000-00000000dead could not be found.",
                }
            },
        ),
        (
            AT_281,
            {"cache": [{"id": "cirros"}]},
            "/v2.1/os-aggregates/2/images",
            400,
            {
                "badRequest": {
                    "code": 400,
                    "message": "Invalid input for field/attribute id. Value: cirros. "
                    "'cirros' is not a 'uuid'",
                }
            },
        ),
        (
            AT_281,
            {"cache": []},
            "/v2.1/os-aggregates/2/images",
            400,
            {
                "badRequest": {
                    "code": 400,
                    "message": "Invalid input for field/attribute cache. Value: []. "
                    "[] should be non-empty",
                }
            },
        ),
        (
            AT_281,
            {"cache": [{"id": DEMO_IMAGE}]},
            "/v2.1/os-aggregates/two/images",
            400,
            {
                "badRequest": {
                    "code": 400,
                    "message": "Invalid input received: id must be an integer",
                }
            },
        ),
        (
            {**ADMIN, "OpenStack-API-Version": "compute 3.0"},
            {"cache": [{"id": DEMO_IMAGE}]},
            "/v2.1/os-aggregates/2/images",
            406,
            {
                "computeFault": {
                    "code": 406,
                    "message": "Version 3.0 is not supported by the API. "
                    "Minimum is 2.1 and maximum is 2.104.",
                }
            },
        ),
    ],
)
async def test_refusals_are_novas(
    client: TestClient[Any, Any],
    conductor: RecordingConductor,
    headers: dict[str, str],
    body: Any,
    path: str,
    status: int,
    fault: dict[str, Any],
) -> None:
    response = await client.post(path, json=body, headers=headers)
    assert response.status == status
    assert await response.json() == fault
    assert REQ_ID.match(response.headers["x-openstack-request-id"])
    assert conductor.plans == []


async def test_aggregates_list_and_show_with_uuid_from_2_41(client: TestClient[Any, Any]) -> None:
    old = await (await client.get("/v2.1/os-aggregates", headers=ADMIN)).json()
    assert "uuid" not in old["aggregates"][0]
    new = await client.get("/v2.1/os-aggregates/2", headers=AT_281)
    aggregate = (await new.json())["aggregate"]
    assert (aggregate["id"], aggregate["name"], len(aggregate["hosts"])) == (
        2,
        "my-application",
        95,
    )
    assert "uuid" in aggregate
    reader = await client.get("/v2.1/os-aggregates", headers={"X-Auth-Token": "viewer:demo"})
    assert reader.status == 200
    stranger = await client.get("/v2.1/os-aggregates", headers={"X-Auth-Token": "notused"})
    assert stranger.status == 403


async def test_noauth2_answers_a_request_without_token_with_one(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/v2.1/os-aggregates")
    assert response.status == 204
    assert response.headers["X-Auth-Token"] == "admin:admin"


async def test_image_lookup_by_name_and_id(client: TestClient[Any, Any]) -> None:
    listed = await (await client.get("/image/v2/images?name=my-application-image")).json()
    assert [i["id"] for i in listed["images"]] == [DEMO_IMAGE]
    assert (await (await client.get("/image/v2/images?name=nope")).json())["images"] == []
    assert (await client.get(f"/image/v2/images/{DEMO_IMAGE}")).status == 200
    assert (await client.get("/image/v2/images/my-application-image")).status == 404
