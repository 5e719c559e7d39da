"""The WebSocket endpoint on a real hub: what an upgrade leaves behind."""

import gc

from hub_server import RunningHub, WsClient


async def test_an_upgrade_leaves_no_cycle_for_the_collector(hub: RunningHub) -> None:
    # The HTTP protocol that read the upgrade request, left in a cycle, would wait for the cyclic
    # collector: hundreds of them make a young collection stall every connection for tens of ms.
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds is kept in gc.garbage, to be seen
    try:
        clients = [await WsClient.open(hub, f"u{n}") for n in range(5)]
        for client in clients:
            await client.ws.close()
        gc.collect()
        left = {type(o).__qualname__ for o in gc.garbage if type(o).__module__.startswith("uvicorn")}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == set()
