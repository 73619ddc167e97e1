"""An OpenFeature provider over the HotSwap SDK: game code written against the OpenFeature API
reads HotSwap configs, evaluated locally on the snapshot the client holds.

It needs the `openfeature-sdk` package (`pip install 'hotswap[openfeature]'`); `hotswap.sdk`
itself does not, and never imports this module.

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from hotswap.sdk import Client, Options
    from hotswap.sdk.openfeature import HotSwapProvider

    hs = Client(Options(url="http://hotswap:8000", token=TOKEN, server_id="gs-eu-1", region="EU-WEST",
                        game="battle-royale", build="2.1.0"))
    hs.start()
    api.set_provider(HotSwapProvider(hs))
    flags = api.get_client()
    hp = flags.get_integer_value("balance:hero.hp", 100, EvaluationContext("p1", {"platform": "ios"}))

Flag keys. A HotSwap config is a JSON object, so a flag key names a config and, after a colon,
a path inside it: `balance` is the whole object (`get_object_value`), `balance:hero.hp` one
value in it, `economy:rewards.daily.0.gold` one in a list (the paths of `Client.value`: dots
between keys, digits index lists). A config name holds only letters, digits, `.`, `_` and `-`,
so the first colon of a key always ends the name; the path may hold colons of its own.

The evaluation context. Its targeting key is the player id; the attributes `serverId`, `region`
and `platform` are the context's fields of those names; every other attribute is an attribute
that conditions see (a datetime as its ISO 8601 text, as the server would see it). A context
without `serverId` or `region` gets this server's (`Options.server_id`, `Options.region`), as
everywhere in the SDK.

What a resolution says:

    HotSwap evaluation                          reason            variant
    a targeting rule or a segment rule          TARGETING_MATCH   the rule id
    a rollout's version (its canary arm)        SPLIT             "canary"
    the live version, to a rollout's baseline   SPLIT             "baseline"
    the live version                            DEFAULT           "default"

(DEFAULT even for a config without rules, where STATIC would be the finer answer: an SDK
evaluation does not say whether its config has rules or a rollout.)

The flag metadata names the `config` and the `revision` of the snapshot evaluated, and the
`version` served, with `ruleId`, `segment`, `deploymentId` and `arm` when they apply. When
there is no value to give, the default comes back with reason ERROR and an error code:
FLAG_NOT_FOUND when the config is not served to the context or its value has nothing at the
path, TYPE_MISMATCH when what is there is not of the type asked for (an integer flag takes no 1.5
and no true; a float flag takes an integer), PROVIDER_NOT_READY while the client holds no
snapshot. Object values are the snapshot's own objects, as `Client.config`'s are: treat them as
read-only.

The client's lifecycle stays the game's: start it before setting the provider, and close it
after `api.shutdown()`. Over a client that holds no snapshot yet (HotSwap unreachable, and no
cache or bootstrap), `initialize` fails with PROVIDER_NOT_READY (`api.set_provider_and_wait`
raises it), resolutions return their default with that error code, and the provider reports
PROVIDER_READY when the first snapshot arrives. Every config change is a
PROVIDER_CONFIGURATION_CHANGED event naming that config in `flags_changed` (the keys `balance`
and `balance:...` all change with config `balance`), with the new `revision` in its metadata.
`track` sends a metric sample through `Client.track` (the details' `config` and `event`
attributes are its `config` and `event`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode, ProviderNotReadyError
from openfeature.flag_evaluation import FlagMetadata, FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata
from openfeature.track import TrackingEventDetails

from hotswap.sdk.client import BaseClient
from hotswap.sdk.options import Evaluation
from hotswap.sdk.session import lookup
from hotswap.targeting.snapshot import Context

__all__ = ["SEPARATOR", "HotSwapProvider"]

SEPARATOR = ":"  # between a config's name and a path in its value; never in a name

T = TypeVar("T")
ObjectValue = Sequence[FlagValueType] | Mapping[str, FlagValueType]

_FIELDS = frozenset({"serverId", "region", "platform"})  # the context's own fields; the rest are attributes
_MISSING = object()


class HotSwapProvider(AbstractProvider):
    """OpenFeature resolution over a HotSwap `Client` or `AsyncClient` (the reads of both are
    the same in-memory calls, so the async resolutions simply run them)."""

    def __init__(self, client: BaseClient) -> None:
        super().__init__()
        self.client = client
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None
        self._awaiting_snapshot = False

    def get_metadata(self) -> Metadata:
        return Metadata(name="HotSwap")

    # -- lifecycle ----------------------------------------------------------------------------

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        with self._lock:
            if self._unsubscribe is None:
                self._unsubscribe = self.client.on_change("*", self._changed)
            if self.client.ready:
                return
            # The first change will report READY. A snapshot swapped in between here and the
            # registry recording this failure would leave the status at ERROR; resolutions are
            # served all the same (OpenFeature holds back only NOT_READY and FATAL providers).
            self._awaiting_snapshot = True
        raise ProviderNotReadyError("the HotSwap client holds no snapshot yet (not started, or nothing reached it)")

    def shutdown(self) -> None:
        with self._lock:
            unsubscribe, self._unsubscribe = self._unsubscribe, None
            self._awaiting_snapshot = False
        if unsubscribe is not None:
            unsubscribe()

    def _changed(self, name: str, revision: int) -> None:
        # Runs on the client's loop (`Client`: its thread), once per changed config.
        with self._lock:
            first, self._awaiting_snapshot = self._awaiting_snapshot, False
        if first:
            self.emit_provider_ready(ProviderEventDetails(metadata={"revision": revision}))
        self.emit_provider_configuration_changed(
            ProviderEventDetails(flags_changed=[name], metadata={"revision": revision})
        )

    # -- resolution ---------------------------------------------------------------------------

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context, "a boolean", _boolean)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context, "a string", _string)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve(flag_key, default_value, evaluation_context, "an integer", _integer)

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[float]:
        return self._resolve(flag_key, default_value, evaluation_context, "a number", _float)

    def resolve_object_details(
        self, flag_key: str, default_value: ObjectValue, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[ObjectValue]:
        return self._resolve(flag_key, default_value, evaluation_context, "an object or a list", _object)

    def _resolve(
        self,
        flag_key: str,
        default: T,
        evaluation_context: EvaluationContext | None,
        kind: str,
        convert: Callable[[Any], T | None],
    ) -> FlagResolutionDetails[T]:
        session = self.client.session()  # one snapshot for the whole resolution
        revision = session.revision
        if revision is None:
            return _error(default, ErrorCode.PROVIDER_NOT_READY, "the HotSwap client holds no snapshot yet")
        name, _, path = flag_key.partition(SEPARATOR)
        found = session.evaluate(name, to_context(evaluation_context))
        if found is None:
            message = f"config {name!r} is not served to this context (revision {revision})"
            return _error(default, ErrorCode.FLAG_NOT_FOUND, message, {"config": name, "revision": revision})
        metadata = _metadata(found)
        value = lookup(found.value, path, _MISSING)
        if value is _MISSING:
            message = f"config {name!r} {found.version} has nothing at {path!r}"
            return _error(default, ErrorCode.FLAG_NOT_FOUND, message, metadata)
        converted = convert(value)
        if converted is None:  # JSON null is no flag value of any type
            message = f"{flag_key!r} is {_describe(value)}, not {kind}"
            return _error(default, ErrorCode.TYPE_MISMATCH, message, metadata)
        reason, variant = _reason(found)
        return FlagResolutionDetails(converted, reason=reason, variant=variant, flag_metadata=metadata)

    # -- tracking -----------------------------------------------------------------------------

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: EvaluationContext | None = None,
        tracking_event_details: TrackingEventDetails | None = None,
    ) -> None:
        """`Client.track(tracking_event_name, details.value or 1.0, context)`; a `config`
        attribute of the details limits the sample to that config's deployment arm, an `event`
        attribute tags it with that live event (`Client.track`'s `event`)."""
        value = 1.0
        config = None
        event: Any = None
        if tracking_event_details is not None:
            if tracking_event_details.value is not None:
                value = tracking_event_details.value
            named = tracking_event_details.attributes.get("config")
            config = named if isinstance(named, str) else None
            # Passed on whatever it is: `Client.track` logs and drops a sample with a bad one
            # rather than sending it untagged.
            event = tracking_event_details.attributes.get("event")
        self.client.track(tracking_event_name, value, to_context(evaluation_context), config=config, event=event)


def to_context(evaluation_context: EvaluationContext | None) -> Context | None:
    """The HotSwap context of an OpenFeature evaluation context (None: this server's own)."""
    if evaluation_context is None or (not evaluation_context.targeting_key and not evaluation_context.attributes):
        return None
    fields: dict[str, str] = {}
    attributes: dict[str, Any] = {}
    for key, value in evaluation_context.attributes.items():
        if key in _FIELDS:
            if value is not None:
                fields[key] = str(value)
        else:
            attributes[key] = _plain(value)
    return Context(
        player_id=evaluation_context.targeting_key or None,
        server_id=fields.get("serverId"),
        region=fields.get("region"),
        platform=fields.get("platform"),
        attributes=attributes,
    )


def _plain(value: Any) -> Any:
    """A context attribute as JSON would carry it: what the server's conditions are written for."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(v) for v in value]
    return value


def _reason(found: Evaluation) -> tuple[str, str | None]:
    if found.reason in ("rule", "segment"):
        return Reason.TARGETING_MATCH, found.rule_id
    if found.reason == "rollout":
        return Reason.SPLIT, found.arm or "canary"
    if found.reason == "default":
        # A unit of a rollout that is not in its canary is its baseline: a split, too.
        return (Reason.SPLIT, "baseline") if found.arm == "baseline" else (Reason.DEFAULT, "default")
    return Reason.UNKNOWN, None


def _metadata(found: Evaluation) -> FlagMetadata:
    metadata: dict[str, bool | int | float | str] = {"config": found.name, "revision": found.revision}
    for key, value in (
        ("version", found.version),
        ("ruleId", found.rule_id),
        ("segment", found.segment),
        ("deploymentId", found.deployment_id),
        ("arm", found.arm),
    ):
        if value is not None:
            metadata[key] = value
    return metadata


def _error(default: T, code: ErrorCode, message: str, metadata: FlagMetadata | None = None) -> FlagResolutionDetails[T]:
    return FlagResolutionDetails(
        default, error_code=code, error_message=message, reason=Reason.ERROR, flag_metadata=metadata or {}
    )


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an object" if isinstance(value, Mapping) else "a list"


def _boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _object(value: Any) -> ObjectValue | None:
    return value if isinstance(value, dict | list) else None
