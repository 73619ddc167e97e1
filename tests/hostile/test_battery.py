"""Every write route against every hostile input (see `corpus`), through the real app.

For each route (found from the app, see `routes`) and each case: the hostile value planted in a
valid body (at each top-level field and at nested places), a hostile whole body or content type,
or a hostile path id. Each answer must be:

- no server error (5xx, or an exception out of the app);
- a refusal (4xx) as `application/problem+json` that parses as strict JSON;
- a refusal for what must be refused (`corpus`: input strict JSON decoding refuses, a body not
  sent as JSON, a hostile path id);
- a refusal that wrote nothing: a fingerprint of the store (each table's row count and a hash
  of its rows) is the same before and after. No table is left out: a refused request changes no
  table today (rate limits live in memory or Redis; refusals are not audited);
- followed by a server that still answers: GET /health through the same client is 200.

After each route's cases, the collection reads (every GET without path or required query
parameters, except the event stream) must still answer without a server error, so one stored
hostile value cannot break reads for everyone; then the store is emptied for the next route (so
a broken read names the route that broke it, and the fingerprints stay small).

One app serves the whole module, to keep it fast. Routes with path parameters get real objects
(`PARENTS`), seeded once per route and again after a case that wrote (a case that was accepted
may have changed or deleted them).

The requests go to the ASGI app directly, with a raw path, as an HTTP server passes them: an HTTP
client would normalize `..` and percent-encoding away.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
import pytest
import sqlalchemy as sa

from hotswap.api import create_app
from hotswap.auth.model import Principal, Role
from hotswap.container import Container, build_container
from hotswap.core.clock import ManualClock
from hotswap.events.tables import event_timers
from hotswap.segments.tables import segments
from hotswap.settings import Settings
from hotswap.tables import metadata
from tests.conftest import SECRET, START, _empty_tables
from tests.helpers import send_raw
from tests.hostile import corpus
from tests.hostile.corpus import Hostile, RawBody
from tests.hostile.routes import (
    VALID,
    Path,
    Route,
    derive,
    discover,
    fill,
    key_places,
    label,
    placeholders,
    template,
    value_places,
    with_key,
    with_value,
)

DISCOVERED = discover()
DOCUMENT = DISCOVERED.document
ROUTES = DISCOVERED.routes
TIMES = {
    "now": START.isoformat().replace("+00:00", "Z"),
    "later": (START + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
    "end": (START + timedelta(days=3)).isoformat().replace("+00:00", "Z"),
}
UNKNOWN_PARENT = "battery-unknown"  # a path parameter no seeder knows: the route answers 404


@dataclass(frozen=True, slots=True)
class Case:
    route: Route
    kind: str  # path, value, key, raw, valid, reads
    name: str
    must_refuse: bool = False
    param: str = ""
    raw_id: bytes = b""
    place: Path = ()
    hostile: Hostile | None = None
    raw: RawBody | None = None

    @property
    def id(self) -> str:
        return f"{self.route.key} :: {self.name}"


def _takes_body(route: Route) -> bool:
    return route.schema is not None or route.key in VALID


def cases_of(route: Route) -> list[Case]:
    body = template(DOCUMENT, route)
    found: list[Case] = []
    for param in route.params:
        for name, raw in corpus.PATH_IDS:
            found.append(Case(route, "path", f"path.{param}={name}", True, param=param, raw_id=raw))
    for place in value_places(DOCUMENT, route, body):
        for h in corpus.VALUES:
            found.append(Case(route, "value", f"{label(place)}={h.name}", h.refuse, place=place, hostile=h))
    for place in key_places(body):
        for h in corpus.KEYS:
            found.append(Case(route, "key", f"{label(place)}{{{h.name}}}", h.refuse, place=place, hostile=h))
    for raw_body in corpus.raw_bodies(DISCOVERED.max_body_bytes):
        if _takes_body(route):
            refuse = raw_body.refuse or (raw_body.refuse_where_required and route.body_required)
        else:
            refuse = raw_body.refuse_without_body
        found.append(Case(route, "raw", f"raw={raw_body.name}", refuse, raw=raw_body))
    found.append(Case(route, "valid", "valid body"))
    found.append(Case(route, "reads", "reads afterwards"))
    return found


CASES = [case for route in ROUTES for case in cases_of(route)]


# -- the app, the store and the parents ---------------------------------------------------------


class ErrorLog(logging.Handler):
    """What the server logged at ERROR or above during one case: the cause of a 5xx."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = f"{record.name}: {safe(record.getMessage())}"
        if record.exc_info and record.exc_info[1] is not None:
            line += f" [{described(record.exc_info[1])}]"
        self.lines.append(line)


def safe(text: str, limit: int = 300) -> str:
    """Text fit for a report: what the server echoes may hold lone surrogates or NUL."""
    return ascii(text[:limit])[1:-1]


def described(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}: {safe(str(exc))}"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    exception: BaseException | None = None


@dataclass
class Battery:
    container: Container
    app: Any
    client: httpx.AsyncClient
    admin: dict[str, str]
    operator: dict[str, str]
    log: ErrorLog
    parents: dict[str, dict[str, str]] = field(default_factory=dict)
    fingerprint: dict[str, tuple[int, str]] | None = None
    counter: int = 0

    async def reset(self) -> None:
        """Empty the store (as each test of the suite starts) and issue the tokens again."""
        await _empty_tables(self.container)
        self.admin, self.operator = await _tokens(self.container)
        self.parents.clear()
        self.fingerprint = None

    def uid(self) -> str:
        self.counter += 1
        return f"u{self.counter}"

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None, method: str = "POST") -> Any:
        r = await self.client.request(method, path, headers=headers or self.admin, json=body)
        assert r.status_code < 300, f"seeding {method} {path}: {r.status_code} {r.text[:500]}"
        return r.json() if r.content else None

    async def store(self) -> dict[str, tuple[int, str]]:
        """Each table's row count and a hash of its rows (in any order), read as stored."""
        async with self.container.engine.connect() as conn:
            rows: list[Any] = list((await conn.exec_driver_sql(fingerprint_query(conn.dialect.name))).all())
        texts: dict[str, list[str]] = {table.name: [] for table in metadata.sorted_tables}
        for table, text in rows:
            texts[table].append(text)
        return {
            table: (len(found), hashlib.sha256("\n".join(sorted(found)).encode()).hexdigest()[:16])
            for table, found in texts.items()
        }


@functools.cache
def fingerprint_query(dialect: str) -> str:
    """Every row of every table as text, with its table's name, in one query: one round trip
    rather than one a table (the battery takes a fingerprint once or twice a case)."""
    parts = []
    for table in metadata.sorted_tables:
        if dialect == "postgresql":
            parts.append(f"SELECT '{table.name}', r::text FROM {table.name} r")
        else:
            row = " || ',' || ".join(f'quote("{column.name}")' for column in table.columns)
            parts.append(f"SELECT '{table.name}', {row} FROM {table.name}")
    return " UNION ALL ".join(parts)


@pytest.fixture(scope="module")
async def battery(database_url: str, redis_url: str | None) -> AsyncIterator[Battery]:
    settings = Settings(
        env="test",
        database_url=database_url,
        redis_url=redis_url,
        jwt_secret=SECRET,
        rate_limit_per_token="100000/minute",
        rate_limit_per_address="100000/minute",
    )
    container = build_container(settings, clock=ManualClock(START))
    await _empty_tables(container)
    if container.rate_limiter is not None:
        await container.rate_limiter.reset()
    app = create_app(settings, container=container)
    log = ErrorLog()
    logging.getLogger().addHandler(log)
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://hotswap.test") as client:
            admin, operator = await _tokens(container)
            yield Battery(container, app, client, admin, operator, log)
    finally:
        logging.getLogger().removeHandler(log)
        await container.aclose()


async def _tokens(container: Container) -> tuple[dict[str, str], dict[str, str]]:
    headers = []
    for role, subject in ((Role.ADMIN, "ada"), (Role.OPERATOR, "olivia")):
        async with container.uow() as uow:
            issued = await container.auth.issue_token(
                uow, Principal("test-setup", Role.ADMIN, "-"), subject=subject, role=role, ttl=timedelta(days=30)
            )
            await uow.commit()
        headers.append({"Authorization": f"Bearer {issued.token}"})
    return headers[0], headers[1]


# Seeders of the objects a route's path (or valid body) names. Each returns the placeholders it
# fills; one that fills several (a release and its config) is listed before those it fills too.
Seeder = Callable[[Battery, str], Awaitable[dict[str, str]]]


async def _config(
    b: Battery, uid: str, environment: str = "Staging", versions: int = 3, headers: dict[str, str] | None = None
) -> str:
    name = f"cfg-{uid}"
    await b.post("/api/v1/configs", {"name": name, "environment": environment}, headers)
    for n in range(1, versions + 1):
        body = {"configData": {"hp": n, "items": ["sword"]}, "version": f"{n}.0.0"}
        await b.post(f"/api/v1/configs/{name}/versions", body, headers)
    return name


async def _live_config(b: Battery, uid: str) -> dict[str, str]:
    """A Staging config: 2.0.0 live (1.0.0 before it), 3.0.0 not released."""
    name = await _config(b, uid)
    for version in ("1.0.0", "2.0.0"):
        await b.post(f"/api/v1/configs/{name}/releases", {"version": version})
    return {"name": name}


async def _pending_release(b: Battery, uid: str) -> dict[str, str]:
    """A Production config an operator wrote and asked to release: it waits for the admin's
    approval (four-eyes: not the author's)."""
    name = await _config(b, uid, "Production", versions=1, headers=b.operator)
    release = await b.post(f"/api/v1/configs/{name}/releases", {"version": "1.0.0"}, headers=b.operator)
    return {"name": name, "release_id": release["id"], "approval_id": release["approvalId"]}


async def _deployment(b: Battery, uid: str) -> dict[str, str]:
    name = (await _live_config(b, uid))["name"]
    body = {"configName": name, "strategy": "Canary", "unitKind": "players", "environment": "Staging"}
    return {"deployment_id": (await b.post("/api/v1/deployments", body))["id"]}


async def _paused_deployment(b: Battery, uid: str) -> dict[str, str]:
    deployment = await _deployment(b, uid)
    await b.post(f"/api/v1/deployments/{deployment['deployment_id']}/pause", {"reason": "hold"})
    return deployment


async def _server(b: Battery, uid: str) -> dict[str, str]:
    body = {"id": f"gs-{uid}", "game": "arena", "region": "NA-WEST", "build": "1.0"}
    return {"serverId": (await b.post("/api/v1/servers", body))["id"]}


async def _segment(b: Battery, uid: str) -> dict[str, str]:
    body = {"id": f"seg-{uid}", "name": "Whales", "condition": {"totalSpend": {"$gte": 500}}}
    return {"segment_id": (await b.post("/api/v1/segments", body))["id"]}


async def _player(b: Battery, uid: str) -> dict[str, str]:
    await b.post(f"/api/v1/players/p-{uid}", {"attributes": {"tier": "gold"}}, method="PUT")
    return {"playerId": f"p-{uid}"}


async def _region(b: Battery, uid: str) -> dict[str, str]:
    body = {"id": f"rg-{uid}", "displayName": "Region", "timeZone": "UTC", "rolloutOrder": 60, "aliases": []}
    return {"regionId": (await b.post("/api/v1/regions", body))["id"]}


async def _token(b: Battery, uid: str) -> dict[str, str]:
    body = {"subject": f"bot-{uid}", "role": "viewer"}
    return {"token_id": (await b.post("/api/v1/tokens", body))["tokenId"]}


async def _credential(b: Battery, uid: str) -> dict[str, str]:
    created = await b.post("/api/v1/credentials", {"name": f"ci-{uid}", "role": "viewer"})
    return {"credential_id": created["id"], "apiKey": created["apiKey"]}


async def _webhook(b: Battery, uid: str) -> dict[str, str]:
    body = {"url": f"https://hooks.example.com/{uid}", "events": ["*"]}
    return {"webhook_id": (await b.post("/api/v1/webhooks", body))["id"]}


async def _template(b: Battery, uid: str) -> dict[str, str]:
    body = {"templateId": f"tpl-{uid}", "type": "Seasonal", "name": "Template"}
    return {"template_id": (await b.post("/api/v1/event-templates", body))["templateId"]}


async def _event(b: Battery, uid: str) -> dict[str, str]:
    body = {
        "eventId": f"ev-{uid}",
        "displayName": "Event",
        "eventClass": "mini",
        "startTime": TIMES["later"],
        "endTime": TIMES["end"],
        "configuration": {"n": 1},
    }
    return {"event_id": (await b.post("/api/v1/events", body))["eventId"]}


async def _dead_letter(b: Battery, uid: str) -> dict[str, str]:
    """An event whose opening failed for good (what the scheduler leaves after its retries)."""
    event_id = (await _event(b, uid))["event_id"]
    async with b.container.engine.begin() as conn:
        letter = (
            await conn.execute(
                sa.select(event_timers.c.id)
                .where(event_timers.c.event_id == event_id, event_timers.c.action == "open")
                .limit(1)
            )
        ).scalar_one()
        await conn.execute(
            event_timers.update()
            .where(event_timers.c.id == letter)
            .values(state="dead", attempts=4, last_error="segment gone")
        )
    return {"letter_id": str(letter)}


PARENTS: dict[str, Seeder] = {
    "release_id": _pending_release,
    "approval_id": _pending_release,
    "deployment_id": _deployment,
    "letter_id": _dead_letter,
    "name": _live_config,
    "serverId": _server,
    "segment_id": _segment,
    "playerId": _player,
    "regionId": _region,
    "token_id": _token,
    "credential_id": _credential,
    "apiKey": _credential,
    "webhook_id": _webhook,
    "template_id": _template,
    "event_id": _event,
}


# Where a route needs its parent in a given state.
ROUTE_PARENTS: dict[str, dict[str, Seeder]] = {
    "POST /api/v1/deployments/{deployment_id}/resume": {"deployment_id": _paused_deployment},
}


async def parents_of(b: Battery, route: Route) -> dict[str, str]:
    """The objects the route names (seeded on first use, and again after a case that wrote)."""
    if route.key not in b.parents:
        needed = set(route.params) | placeholders(template(DOCUMENT, route))
        seeders = {**PARENTS, **ROUTE_PARENTS.get(route.key, {})}
        values: dict[str, str] = {}
        for name, seed in seeders.items():
            if name in needed and name not in values:
                values.update(await seed(b, b.uid()))
                b.fingerprint = None
        b.parents[route.key] = values
    return b.parents[route.key]


# -- sending ------------------------------------------------------------------------------------


async def send(
    b: Battery,
    method: str,
    raw_path: bytes,
    body: bytes,
    content_type: str | None,
    headers: dict[str, str],
    query: bytes = b"",
) -> Answer:
    """One request straight to the ASGI app, its path as an HTTP server passes it."""
    status, answer_headers, answer_body, exception = await send_raw(
        b.app, method, raw_path, body=body, content_type=content_type, headers=headers, query=query
    )
    return Answer(status, answer_headers, answer_body, exception)


def _path(route: Route, values: dict[str, bytes]) -> bytes:
    raw = route.path.encode()
    for param in route.params:
        raw = raw.replace(b"{" + param.encode() + b"}", values[param])
    return raw


def _encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def request_of(case: Case, values: dict[str, str]) -> tuple[bytes, bytes, str | None]:
    route = case.route
    body = fill(template(DOCUMENT, route), values)
    path_values = {p: quote(values.get(p, UNKNOWN_PARENT), safe="").encode() for p in route.params}
    if case.kind == "path":
        path_values[case.param] = case.raw_id
    raw_path = _path(route, path_values)
    content_type: str | None = "application/json"
    if case.kind == "value":
        assert case.hostile is not None
        payload = with_value(body, case.place, case.hostile.json)
    elif case.kind == "key":
        assert case.hostile is not None
        payload = with_key(body, case.place, case.hostile.json)
    elif case.kind == "raw":
        assert case.raw is not None
        payload = case.raw.body if case.raw.body is not None else _encode(body if body is not None else {})
        content_type = case.raw.content_type
    elif body is None:
        payload, content_type = b"", None
    else:
        payload = _encode(body)
    return raw_path, payload, content_type


def _problem_error(answer: Answer) -> str | None:
    media = answer.headers.get("content-type", "")
    if not media.startswith("application/problem+json"):
        return f"a {answer.status} sent as {media!r}, not application/problem+json: {answer.body[:200]!r}"
    try:
        document = json.loads(answer.body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"a {answer.status} whose problem document is not strict JSON ({exc}): {answer.body[:200]!r}"
    if not isinstance(document, dict) or document.get("status") != answer.status:
        return f"a {answer.status} whose problem document has another status: {answer.body[:200]!r}"
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _changed(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]) -> str:
    return ", ".join(f"{t} ({before[t][0]} -> {after[t][0]} rows)" for t in sorted(before) if before[t] != after.get(t))


def _reads() -> list[tuple[str, bytes]]:
    """Every GET without path or required query parameters, except the event stream; one per
    value of an enumerated query parameter (each environment's snapshot)."""
    found: list[tuple[str, bytes]] = []
    for path, item in DOCUMENT["paths"].items():
        operation = item.get("get")
        if operation is None or "{" in path:
            continue
        content = operation.get("responses", {}).get("200", {}).get("content", {})
        query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
        if "text/event-stream" in content or any(p.get("required") for p in query):
            continue
        variants = [b""]
        for p in query:
            enum = p.get("schema", {}).get("enum")
            if enum:
                variants = [f"{p['name']}={v}".encode() for v in enum]
        found.extend((path, q) for q in variants)
    return found


READS = _reads()


async def check_reads(b: Battery, route: Route) -> list[str]:
    """The reads that fail after this route's cases (the store is emptied after each route, so
    what broke them is in this route's cases)."""
    failures = []
    for path, query in READS:
        where = f"GET {path}" + (f"?{query.decode()}" if query else "")
        b.log.lines.clear()
        answer = await send(b, "GET", path.encode(), b"", None, b.admin, query)
        if answer.status >= 500 or answer.exception is not None:
            cause = described(answer.exception) if answer.exception else answer.status
            failures.append(f"{where} fails after {route.key}'s cases ({cause}); server log: {b.log.lines}")
    return failures


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_hostile_request(battery: Battery, case: Case) -> None:
    b = battery
    route = case.route
    if case.kind == "reads":
        broken = await check_reads(b, route)
        await b.reset()  # the next route starts from an empty store: fingerprints stay cheap
        assert not broken, "\n".join(broken)
        return
    values = {**TIMES, **await parents_of(b, route), "uid": b.uid()}
    raw_path, payload, content_type = request_of(case, values)
    before = b.fingerprint or await b.store()
    b.log.lines.clear()
    answer = await send(b, route.method, raw_path, payload, content_type, b.admin)
    logged = list(b.log.lines)
    after = await b.store()
    b.fingerprint = after
    if answer.status < 400:
        b.parents.pop(route.key, None)  # it wrote: the next case gets fresh objects
    health = await b.client.get("/health")

    failures: list[str] = []
    if answer.exception is not None:
        failures.append(f"the app raised {described(answer.exception)}")
    elif answer.status >= 500:
        failures.append(f"answered {answer.status}: {answer.body[:300]!r}")
    elif answer.status >= 400:
        problem = _problem_error(answer)
        if problem:
            failures.append(problem)
    if answer.status >= 400 and before != after:
        failures.append(f"refused with {answer.status} but wrote: {_changed(before, after)}")
    if case.must_refuse and answer.status < 400:
        failures.append(f"accepted ({answer.status}) what must be refused: {answer.body[:200]!r}")
    if case.kind == "valid" and route.key in VALID and not 200 <= answer.status < 300:
        failures.append(
            f"the battery's valid body was refused ({answer.status}: {answer.body[:300]!r}): "
            "the planted values stop at the shape checks; fix VALID or PARENTS"
        )
    if health.status_code != 200:
        failures.append(f"GET /health answered {health.status_code} afterwards")
    if failures and logged:
        failures.append(f"server log: {logged}")
    assert not failures, "\n".join(failures)


# -- the battery covers what the app serves -----------------------------------------------------


async def test_every_write_route_of_the_served_document_and_hot_path_is_in_the_battery(battery: Battery) -> None:
    r = await battery.client.get("/openapi.json", headers=battery.admin)
    assert r.status_code == 200, r.text
    served = {
        f"{method.upper()} {path}"
        for path, item in r.json()["paths"].items()
        for method in item
        if method in ("post", "put", "patch", "delete")
    }
    hot = {f"{h.method} {h.path}" for h in battery.app.hot_path.routes if h.method != "GET"}
    covered = {case.route.key for case in CASES}
    assert served | hot <= covered
    assert hot, "the hot-path table has write routes (the heartbeat, the evaluation)"


def test_each_valid_body_and_parent_names_a_route_or_a_placeholder_in_use() -> None:
    keys = {route.key for route in ROUTES}
    assert set(VALID) <= keys, f"bodies for routes the app no longer has: {set(VALID) - keys}"
    used = {p for route in ROUTES for p in (*route.params, *placeholders(template(DOCUMENT, route)))}
    assert set(PARENTS) <= used, f"seeders nothing uses: {set(PARENTS) - used}"
    assert set(ROUTE_PARENTS) <= keys, f"seeders for routes the app no longer has: {set(ROUTE_PARENTS) - keys}"


@pytest.mark.parametrize("route", [r for r in ROUTES if r.schema is not None], ids=lambda r: r.key)
def test_a_body_derived_from_the_schema_satisfies_it(route: Route) -> None:
    """The fallback for a route without a body in VALID: what `derive` makes from the schema
    passes the schema, so a new route's planted values get past the shape checks too."""
    assert route.schema is not None
    body = fill(derive(DOCUMENT, route.schema), {**TIMES, "uid": "u1"})
    validator = jsonschema.Draft202012Validator({**route.schema, "components": DOCUMENT["components"]})
    assert [e.message for e in validator.iter_errors(body)] == []


async def test_the_fingerprint_sees_an_insert_an_update_and_a_delete(battery: Battery) -> None:
    """The harness itself: a write the battery must catch changes the fingerprint."""
    b = battery
    await b.reset()
    segment = {"id": "fp-check", "name": "Check", "condition": {"tier": "gold"}}
    first = await b.store()
    await b.post("/api/v1/segments", segment)
    inserted = await b.store()
    async with b.container.engine.begin() as conn:
        await conn.execute(segments.update().where(segments.c.id == "fp-check").values(description="changed"))
    updated = await b.store()
    async with b.container.engine.begin() as conn:
        await conn.execute(segments.delete().where(segments.c.id == "fp-check"))
    deleted = await b.store()
    assert inserted["segments"][0] == first["segments"][0] + 1
    assert updated["segments"] != inserted["segments"]
    assert updated["segments"][0] == inserted["segments"][0]
    assert deleted["segments"] == first["segments"]
    assert deleted["audit_records"] != first["audit_records"]  # the insert went through the API
