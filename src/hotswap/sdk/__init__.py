"""The HotSwap SDK for game servers: configs evaluated locally on a snapshot kept current by a
stream, with a last-known-good cache, change listeners, match sessions, metrics and fleet
membership.

    from hotswap.sdk import Client, Options

    hs = Client(Options(url="http://hotswap:8000", token=TOKEN, server_id="gs-eu-1", region="EU-WEST",
                        cache_path="/var/lib/game/hotswap.json"))
    hs.start()                                   # serves the cache at once; never raises for the network
    hs.on_change("balance", lambda name, revision: print(name, "is now at", revision))
    with hs.session() as match:                  # a match keeps the snapshot it started with
        hp = match.value("balance", "hero.hp", default=100, context={"playerId": "p1"})
    hs.track("session_end", 1260.0, {"playerId": "p1"})
    hs.close()

It imports only the standard library, httpx, orjson and the shared targeting engine.
"""

import logging

from hotswap.sdk.client import AsyncClient
from hotswap.sdk.options import Evaluation, Options
from hotswap.sdk.session import Session
from hotswap.sdk.sync import Client
from hotswap.targeting.snapshot import Context

__all__ = ["AsyncClient", "Client", "Context", "Evaluation", "Options", "Session"]

# A library's convention: its records go wherever the application's logging sends them (the
# "hotswap.sdk" logger), and nowhere on their own when it configures none.
logging.getLogger("hotswap.sdk").addHandler(logging.NullHandler())
