"""What a client is configured with (`Options`) and what it answers (`Evaluation`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

__all__ = ["Evaluation", "Options"]


@dataclass(frozen=True, slots=True)
class Options:
    """Everything a client needs, in one object. Only `url` and `token` are required.

    A client given a `server_id` registers that game server in the fleet and heartbeats
    (`register`, which defaults to whether `server_id` is given): the server stores metric
    samples only from game servers its fleet registry knows, and every `track()` sample names
    this one. Registering needs `server_id`, `region`, `game` and `build` (the registry requires
    all four); `register=False` is for a server registered some other way. `random` is the jitter
    source for reconnect delays (a callable returning a float in [0, 1)); tests pass a fixed one.
    """

    url: str
    token: str
    environment: str = "Production"
    streaming: bool = True
    poll_interval: float = 30.0
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0
    stream_idle_timeout: float = 45.0
    request_timeout: float = 10.0
    start_timeout: float = 5.0
    bootstrap: str | os.PathLike[str] | Mapping[str, Any] | None = None
    cache_path: str | os.PathLike[str] | None = None
    server_id: str | None = None
    region: str | None = None
    register: bool | None = None  # None: whether server_id is given (see `registers`)
    heartbeat_interval: float = 10.0
    track_batch_size: int = 500
    track_flush_interval: float = 5.0
    track_max_pending: int = 10_000
    transport: httpx.AsyncBaseTransport | None = None
    now: Callable[[], datetime] | None = None
    # What fleet registration must declare, and the jitter source (settable for tests).
    game: str | None = None
    build: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    capacity: int = 0
    random: Callable[[], float] | None = None

    def __post_init__(self) -> None:
        if not self.url:
            raise ValueError("Options.url is required")
        for name in (
            "poll_interval",
            "reconnect_initial",
            "reconnect_max",
            "stream_idle_timeout",
            "request_timeout",
            "heartbeat_interval",
            "track_flush_interval",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"Options.{name} must be positive")
        if self.start_timeout < 0:
            raise ValueError("Options.start_timeout cannot be negative")
        if not 1 <= self.track_batch_size <= 5000:  # the server takes at most 5000 samples a batch
            raise ValueError("Options.track_batch_size must be between 1 and 5000")
        if self.track_max_pending < 1:
            raise ValueError("Options.track_max_pending must be positive")
        if self.registers:
            missing = [n for n in ("server_id", "region", "game", "build") if not getattr(self, n)]
            if missing:
                raise ValueError(
                    f"Options.register (the default when server_id is given) needs {', '.join(missing)}: "
                    "the fleet registry requires them; pass register=False for a server registered elsewhere"
                )

    @property
    def registers(self) -> bool:
        """Whether the client registers its game server in the fleet: `register`, or by default
        whether `server_id` is given. Registering by default, rather than having the server take
        samples from servers it has not seen, keeps the fleet's check: it refuses an unknown id for
        good reasons (a typo, a decommissioned server, a token used elsewhere), and a game server
        that names itself is a member."""
        return self.register if self.register is not None else self.server_id is not None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One config's answer for one context: its value and why it was chosen.

    `version` is the config version served (the version string, e.g. "1.2.0"); `deployment_id`
    and `arm` are set when the context falls in a rollout of the config.
    """

    name: str
    value: Any
    version: str | None
    reason: str
    rule_id: str | None
    segment: str | None
    deployment_id: str | None
    arm: str | None
    revision: int
