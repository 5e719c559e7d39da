"""X-Max-Compat-ID: old apps are cut off with 412, the others pass."""

from backends import SECRET
from hub_server import RunningHub, hub_fixture
from security.helpers import Api

hub = hub_fixture("memory", jwt_secret=SECRET, max_compat_id="7")


async def test_another_compat_id_gets_412_and_none_or_the_same_passes(hub: RunningHub) -> None:
    api = Api(hub, "compat-ana")
    body = await api.refused("GET", "/api/conversations", 412, headers={"X-Max-Compat-ID": "6"})
    assert body["error"] == "CompatibilityIDMismatch"
    await api.call("GET", "/api/conversations", headers={"X-Max-Compat-ID": "7"})
    await api.call("GET", "/api/conversations")


async def test_the_document_names_the_header_and_its_412(hub: RunningHub) -> None:
    document = await Api(hub, "compat-bo").call("GET", "/api/openapi.json")
    operation = document["paths"]["/api/contexts/{hash}/activities"]["get"]
    [header] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert (header["name"], header["schema"]) == ("X-Max-Compat-ID", {"enum": ["7"]})
    assert "412" in operation["responses"]
