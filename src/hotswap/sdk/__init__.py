"""The HotSwap SDK for game servers: configs evaluated locally on a snapshot kept current by a
stream, with a last-known-good cache, change listeners, match sessions, metrics and fleet
membership.

    from hotswap.sdk import Client, Options

    hs = Client(Options(url="http://hotswap:8000", token=TOKEN, server_id="gs-eu-1", region="EU-WEST",
                        game="battle-royale", build="2.1.0", cache_path="/var/lib/game/hotswap.json"))
    hs.start()                                   # serves the cache at once; never raises for the network
    hs.on_change("balance", lambda name, revision: print(name, "is now at", revision))
    with hs.session() as match:                  # a match keeps the snapshot it started with
        hp = match.value("balance", "hero.hp", default=100, context={"playerId": "p1"})
    hs.track("session_end", 1260.0, {"playerId": "p1"})
    hs.close()

It imports only the standard library, httpx, orjson and the shared targeting engine.
"""

from hotswap.sdk.client import AsyncClient
from hotswap.sdk.options import Evaluation, Options
from hotswap.sdk.session import Session
from hotswap.sdk.sync import Client
from hotswap.targeting.snapshot import Context

__all__ = ["AsyncClient", "Client", "Context", "Evaluation", "Options", "Session"]

# Records go to the "hotswap.sdk" logger and wherever the application's logging sends them. The
# SDK adds no handler, not even a NullHandler: in an application that configures no logging,
# Python's last-resort handler then prints warnings (a refused sample, a failed refresh) to
# stderr, where a game developer sees them, rather than dropping them.
