"""Values no store can hold and bodies no route should parse are refused at the edge, by where
they are, before anything is written; a refusal never breaks later reads, is never blamed on
the database, and never fails on its own content. Runs on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, StatementError

from hotswap.container import Container
from hotswap.core.errors import Conflict, FieldError, InvalidInput, Unavailable
from hotswap.core.jsonutil import MAX_JSON_DEPTH, UnfitJSON, as_stored, check_fit, storable_dumps, strict_loads
from hotswap.web.problems import database_problem, dumps, problem_response
from tests.delivery.test_api import release, set_rules, snapshot
from tests.helpers import CountRows, Headers, fields, problem, send_raw
from tests.rollouts.support import config_with_two_versions

JSON = {"Content-Type": "application/json"}
# Each a JSON text that orjson and the standard library read differently, or that a store cannot
# hold: lone surrogates (escaped, as a client sends them), NaN and Infinity, overflowing numbers.
LONE_SURROGATE = '"\\ud800"'
HOSTILE_VALUES = {
    "lone surrogate": LONE_SURROGATE,
    "low surrogate": '"\\udfff"',
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "1e400": "1e400",
    "400 digits": "9" * 400,
    "2**64": str(2**64),
    "NUL": '"a\\u0000b"',
}


def _text(template: str, value: str) -> bytes:
    return template.replace("@", value).encode()


# -- one write must not break reads for everyone ---------------------------------------------


@pytest.mark.parametrize("value", list(HOSTILE_VALUES))
async def test_a_hostile_rule_is_refused_and_the_environment_keeps_serving(
    value: str, client: httpx.AsyncClient, op: Headers, server: Headers, count_rows: CountRows
) -> None:
    await release(client, op, "balance", {"hp": 1})
    await set_rules(client, op, "balance", [{"id": "r1", "condition": {"country": "DE"}, "value": {"hp": 2}}])
    before = (await client.get("/api/v1/configs/balance/targeting", headers=op)).json()
    audit = await count_rows("audit_records")
    body = _text(
        '{"rules": [{"id": "r2", "description": @, "condition": {}, "value": {"hp": 3}}]}', HOSTILE_VALUES[value]
    )
    r = await client.put("/api/v1/configs/balance/targeting", headers=op | JSON, content=body)
    assert problem(r, 422)["errors"][0]["field"].startswith("body")
    assert await count_rows("audit_records") == audit
    after = await client.get("/api/v1/configs/balance/targeting", headers=op)
    assert after.status_code == 200
    assert after.json() == before
    assert "balance" in (await snapshot(client, server))["configs"]


@pytest.mark.parametrize("value", ["lone surrogate", "NaN", "Infinity", "1e400", "400 digits", "2**64", "NUL"])
async def test_a_hostile_json_schema_is_refused_and_the_config_list_still_reads(
    value: str, client: httpx.AsyncClient, op: Headers
) -> None:
    hostile = HOSTILE_VALUES[value]
    body = _text(
        '{"name": "svc.dev", "environment": "Development", "jsonSchema": {"type": "object", "examples": [{@: 1}, @]}}'
        if hostile.startswith('"')
        else '{"name": "svc.dev", "environment": "Development", "jsonSchema": {"type": "object", "maximum": @}}',
        hostile,
    )
    r = await client.post("/api/v1/configs", headers=op | JSON, content=body)
    problem(r, 422)
    listed = await client.get("/api/v1/configs", headers=op)
    assert listed.status_code == 200
    assert listed.json()["items"] == []


async def _samples_counted(container: Container) -> int:
    async with container.engine.connect() as conn:
        total = await conn.execute(sa.text("SELECT COALESCE(SUM(count), 0) FROM metric_aggregates"))
        return int(total.scalar_one())


async def test_a_surrogate_key_in_a_metrics_batch_stores_nothing_so_a_retry_counts_once(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container
) -> None:
    from tests.analysis.support import running, sample

    deployment = await running(client, op, server)
    good = json.dumps(sample(deployment["id"], "canary", "crash", playerId="p1", count=1))
    bad = '{"serverId": "na-1", "\\ud800": 1}'
    r = await client.post("/api/v1/metrics", headers=server | JSON, content=f'{{"samples": [{good}, {bad}]}}'.encode())
    assert problem(r, 422)["errors"][0]["field"] == "body.samples.1"
    assert await _samples_counted(container) == 0  # the whole batch refused, not half of it
    r = await client.post("/api/v1/metrics", headers=server | JSON, content=f'{{"samples": [{good}]}}'.encode())
    assert r.status_code in (200, 202), r.text
    assert await _samples_counted(container) == 1


# -- the lean routes ------------------------------------------------------------------------

EVALUATE, HEARTBEAT = "/api/v1/evaluate?environment=Staging", "/api/v1/servers/gs-1/heartbeat"


@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        (
            "/api/v1/evaluate?environment=Staging",
            "POST",
            b'{"playerId": "p", "attributes": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1001,
        ),
        ("/api/v1/evaluate?environment=Staging", "POST", b'{"playerId": "p\xff"}'),
        ("/api/v1/evaluate?environment=Staging", "POST", b'{"playerId": "p", "attributes": {"a": "\\ud800"}}'),
        (
            "/api/v1/evaluate?environment=Staging",
            "POST",
            b'{"playerId": "p", "attributes": {"a": 18446744073709551616}}',
        ),
        ("/api/v1/servers/gs-1/heartbeat", "PUT", b'{"playerCount": 1, "health": {"cpu": 0.5\xc3}}'),
        ("/api/v1/servers/gs-1/heartbeat", "PUT", b'{"playerCount": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ],
    ids=[
        "evaluate-deep",
        "evaluate-utf8",
        "evaluate-surrogate",
        "evaluate-wide-int",
        "heartbeat-utf8",
        "heartbeat-deep",
    ],
)
async def test_malformed_bodies_on_lean_routes_are_422(
    path: str, method: str, body: bytes, client: httpx.AsyncClient, server: Headers
) -> None:
    r = await client.request(method, path, headers=server | JSON, content=body)
    assert fields(problem(r, 422))[0].startswith("body")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_lean_routes_take_json_only(content_type: str | None, client: httpx.AsyncClient, server: Headers) -> None:
    headers = server | ({"Content-Type": content_type} if content_type else {})
    r = await client.post("/api/v1/evaluate?environment=Staging", headers=headers, content=b'{"playerId": "p"}')
    assert fields(problem(r, 415)) == ["header.content-type"]


async def test_a_huge_number_in_a_deployment_analysis_is_422(client: httpx.AsyncClient, op: Headers) -> None:
    await config_with_two_versions(client, op, "balance")
    fields_named = (
        ("9" * 400, "body.analysis.metrics.0.staleAfterSeconds"),  # refused at the edge
        ("1e300", "body.analysis.metrics[0].staleAfterSeconds"),  # refused by the policy's own rules
        ("-1e15", "body.analysis.metrics[0].staleAfterSeconds"),  # past what a duration holds
    )
    for number, field in fields_named:
        content = (
            '{"configName": "balance", "strategy": "Canary", '
            f'"analysis": {{"metrics": [{{"metric": "crash", "staleAfterSeconds": {number}}}]}}}}'
        ).encode()
        r = await client.post("/api/v1/deployments", headers=op | JSON, content=content)
        assert fields(problem(r, 422)) == [field], r.text


# -- paths ----------------------------------------------------------------------------------


async def _raw(app: Any, method: str, raw_path: bytes, headers: Headers) -> tuple[int, dict[str, Any]]:
    status, _, body, _ = await send_raw(app, method, raw_path, headers=headers)
    return status, json.loads(body)


@pytest.mark.parametrize("segment", [b"%ff%fe", b"..", b".", b"%2e%2e", b"%2E", b"%ed%a0%80", b"a%c3"], ids=repr)
async def test_a_path_id_that_is_not_text_or_is_a_dot_segment_is_422(
    segment: bytes, app: Any, op: Headers, server: Headers
) -> None:
    status, body = await _raw(app, "GET", b"/api/v1/players/" + segment + b"/configs", server)
    assert (status, fields(body)) == (422, ["path.playerId"])
    status, body = await _raw(app, "GET", b"/api/v1/configs/" + segment, op)
    assert (status, fields(body)) == (422, ["path"])


async def test_two_raw_ids_never_reach_one_record(app: Any, op: Headers) -> None:
    # `%ff` and `%fe` would both decode to U+FFFD if bad bytes were replaced.
    for raw in (b"/api/v1/configs/x%ff", b"/api/v1/configs/x%fe"):
        status, _ = await _raw(app, "DELETE", raw, op)
        assert status == 422


# -- database errors by class ----------------------------------------------------------------


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"driver says {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "answer"),
    [
        ("22021", InvalidInput),  # invalid byte sequence (NUL in text)
        ("22P05", InvalidInput),  # untranslatable character (\u0000 in jsonb)
        ("22003", InvalidInput),  # numeric value out of range
        ("54000", InvalidInput),  # program limit exceeded (a value too large to index)
        ("23505", Conflict),
        ("40001", Conflict),
        ("08006", Unavailable),
        ("25006", Unavailable),  # a read-only standby after a failover
        ("55P03", Unavailable),  # a lock not granted in time
        ("57P01", Unavailable),
        ("53300", Unavailable),
        ("42P01", type(None)),  # undefined table: our own fault, a 500
    ],
)
def test_database_errors_are_answered_by_their_class(sqlstate: str, answer: type) -> None:
    error = DBAPIError("INSERT ...", {}, _DriverError(sqlstate))
    assert isinstance(database_problem(error), answer)


def test_a_dropped_connection_is_unavailable() -> None:
    assert isinstance(database_problem(DBAPIError("SELECT 1", {}, ConnectionResetError("reset by peer"))), Unavailable)


async def test_the_store_itself_refuses_what_it_could_not_give_back(container: Container) -> None:
    # The last line under the edge: a value that reached a JSON column by any path.
    table = sa.Table("hostile_probe", sa.MetaData(), sa.Column("v", sa.JSON))
    async with container.engine.begin() as conn:
        await conn.run_sync(table.create)
        try:
            await conn.execute(table.insert().values(v={"a": [[[]]] * 2}))  # a fit value is stored
            unfit: list[Any] = [{"a": float("nan")}, {"a": "\ud800"}, {"a\x00": 1}, {"a": 2**64}]
            for value in unfit:
                with pytest.raises(StatementError) as raised:
                    await conn.execute(table.insert().values(v=value))
                assert isinstance(raised.value.orig, UnfitJSON)
            assert (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one() == 1
        finally:
            await conn.run_sync(table.drop)


# -- the pure rules ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(HOSTILE_VALUES))
def test_strict_loads_refuses_every_hostile_value(name: str) -> None:
    with pytest.raises(UnfitJSON):
        strict_loads(_text('{"a": [1, @]}', HOSTILE_VALUES[name]))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b'{"a": 1.8e19}', {"a": 1.8e19}),  # a float that large is a float, kept
        (b'{"a": 9223372036854775807}', {"a": 2**63 - 1}),
        (b'{"a": "\\\\u0000"}', {"a": "\\u0000"}),  # an escaped backslash, not a NUL
        (b'{"id": "12345678901234567890123"}', {"id": "12345678901234567890123"}),
        (b'"\\ud83c\\udfae"', "\U0001f3ae"),  # a surrogate pair is one character
        (b"[" * 64 + b"]" * 64, json.loads(b"[" * 64 + b"]" * 64)),  # as deep as the edge takes
    ],
)
def test_strict_loads_keeps_what_is_fit(text: bytes, value: Any) -> None:
    assert strict_loads(text) == value


def test_the_pointer_names_the_value_at_fault() -> None:
    with pytest.raises(UnfitJSON) as raised:
        strict_loads(b'{"a/b": {"c~": [0, 9223372036854775808]}}')
    assert raised.value.pointer == "/a~1b/c~0/1"
    with pytest.raises(UnfitJSON) as raised:
        strict_loads(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert raised.value.pointer == "/0" * MAX_JSON_DEPTH
    with pytest.raises(UnfitJSON) as raised:
        strict_loads(b'{\n"a":\n "\xff"}')
    assert (raised.value.line, raised.value.column) == (3, 3)


def test_check_fit_refuses_any_depth_without_recursing() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(UnfitJSON, match="nested more than"):
        check_fit(deep)
    with pytest.raises(UnfitJSON, match="nested more than"):
        storable_dumps(deep)


HOSTILE_STRINGS = ["\ud800", "\udfff", "a\x00b", "\ufffd", "\u202e", "\x1b[31m", "</script>", "\\", "\"'", "x" * 10_000]


@pytest.mark.parametrize("text", HOSTILE_STRINGS, ids=range(len(HOSTILE_STRINGS)))
def test_a_problem_renders_whatever_it_echoes(text: str) -> None:
    error = InvalidInput(
        f"bad {text}",
        errors=[FieldError(f"body.{text}", text, pointer=f"/{text}")],
        extra={text: text, "n": 2**70, "nested": [{text: text}]},
    )
    response = problem_response(error, f"/api/v1/configs/{text}")
    body = json.loads(bytes(response.body))
    assert body["status"] == 422
    assert len(body["errors"]) == 1
    assert json.loads(dumps({"k": text})) is not None


@pytest.mark.parametrize(
    "value",
    [
        {"max": 2**63 - 1, "min": -(2**63)},  # past what the fast screen takes (53 bits): the walk keeps them
        {"text": "\\u0000 written out, not a NUL"},
        {"deep": json.loads("[" * 200 + "]" * 200)},
    ],
    ids=["64-bit integers", "an escaped backslash", "200 levels"],
)
def test_the_store_keeps_every_fit_value_the_screen_leaves_to_the_walk(value: Any) -> None:
    assert json.loads(storable_dumps(value)) == value


async def test_integers_past_53_bits_are_stored_exactly(client: httpx.AsyncClient, op: Headers) -> None:
    data = {"max": 2**63 - 1, "min": -(2**63), "id": 2**53 + 1}
    await release(client, op, "ids", data)
    r = await client.get("/api/v1/configs/ids/versions/1.0.0", headers=op)
    assert r.status_code == 200, r.text
    assert r.json()["configData"] == data


def test_a_number_the_store_turned_into_an_integer_is_written_again_as_a_float() -> None:
    # PostgreSQL's jsonb hands 1.5e19 back as 15000000000000000000: read back, it must be a
    # value the store takes again, or every later write that copies it would be refused.
    read_back = as_stored({"x": 15_000_000_000_000_000_000, "y": [2**63 - 1]})
    assert read_back == {"x": 1.5e19, "y": [2**63 - 1]}
    assert json.loads(storable_dumps(read_back)) == read_back


async def test_a_body_starting_with_a_byte_order_mark_is_read(client: httpx.AsyncClient, op: Headers) -> None:
    body = b"\xef\xbb\xbf" + json.dumps({"name": "bom.dev", "environment": "Development"}).encode()
    r = await client.post("/api/v1/configs", headers=op | JSON, content=body)
    assert r.status_code == 201, r.text
