"""POST /api/v1/metrics: samples from game servers become per-arm aggregates at once; bad samples
are named one by one and the good ones of the same batch are stored."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from hotswap.analysis.ingest import MAX_BATCH
from hotswap.analysis.tables import metric_aggregates
from hotswap.container import Container
from hotswap.core.clock import ManualClock
from tests.analysis.support import metrics_of, running, sample, send
from tests.helpers import Headers, fields, problem


async def test_samples_show_up_in_the_arms_at_once(client: httpx.AsyncClient, op: Headers, server: Headers) -> None:
    dep = (await running(client, op, server))["id"]
    batch = [
        sample(dep, "canary", "session_start", playerId="p1", count=40),
        sample(dep, "canary", "crash", playerId="p1", count=4),
        sample(dep, "canary", "session_end", playerId="p1", value=600.0),
        sample(dep, "canary", "session_end", playerId="p2", value=1200.0),
        sample(dep, "canary", "complaint", playerId="p2"),
        sample(dep, "canary", "engagement_score", playerId="p2", value=0.5),
        sample(dep, "baseline", "session_start", playerId="p3", count=10, region="us-west"),
        sample(dep, "baseline", "fps", playerId="p3", value=60.0),
        sample(dep, "baseline", "fps", playerId="p3", value=30.0),
    ]
    r = await send(client, server, batch)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 9, "rejected": 0, "outsideEventWindow": 0}
    found = await metrics_of(client, op, dep)
    canary, baseline = found["arms"]["canary"], found["arms"]["baseline"]
    assert (canary["players"], canary["sessions"], canary["crashRate"]) == (2, 40, 0.1)
    assert (canary["avgSessionDuration"], canary["avgSessionDurationSeconds"]) == ("PT15M", 900.0)
    assert (canary["playerComplaints"], canary["engagement"]) == (1, 0.5)
    assert (baseline["players"], baseline["sessions"], baseline["crashRate"]) == (1, 10, 0.0)
    assert baseline["fps"]["mean"] == 45.0
    assert (baseline["avgSessionDuration"], baseline["avgSessionDurationSeconds"], baseline["engagement"]) == (
        None,
        None,
        None,
    )
    assert baseline["fps"]["p50"] == pytest.approx(30.0, rel=0.02)
    assert found["judged"] is True
    assert {m["metric"] for m in found["metrics"]} >= {"crash", "complaint", "session_duration", "engagement"}
    crash = next(m for m in found["metrics"] if m["metric"] == "crash")
    assert (crash["canarySamples"], crash["baselineSamples"]) == (40, 10)
    assert found["outcome"] == "Pending"  # far below the minimum samples


async def test_the_canary_arm_is_also_summed_up_at_the_top_level(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    dep = (await running(client, op, server))["id"]
    batch = [
        sample(dep, "canary", "session_start", playerId="p1", count=3),
        sample(dep, "canary", "session_end", playerId="p1", value=400.0),
        sample(dep, "canary", "session_end", playerId="p1", value=452.4),  # 426.2 s on average
        sample(dep, "canary", "complaint", playerId="p1"),
        sample(dep, "canary", "complaint", playerId="p2", count=2),
        sample(dep, "canary", "engagement_score", value=90.0),
        sample(dep, "canary", "engagement_score", value=99.0),
        sample(dep, "baseline", "session_end", playerId="p3", value=60.0),
        sample(dep, "baseline", "complaint", playerId="p3"),
    ]
    assert (await send(client, server, batch)).status_code == 200
    found = await metrics_of(client, op, dep)
    summary = {k: found[k] for k in ("playerChurnRate", "avgSessionDuration", "playerComplaints", "engagement")}
    assert summary == {
        "playerChurnRate": None,  # nobody can have churned yet
        "avgSessionDuration": "PT7M6S",  # an ISO 8601 duration, to the second
        "playerComplaints": 2,  # players who complained
        "engagement": 94.5,
    }
    assert found["avgSessionDurationSeconds"] == pytest.approx(426.2)
    canary = found["arms"]["canary"]
    assert {k: canary[k] for k in (*summary, "avgSessionDurationSeconds")} == {
        **summary,
        "avgSessionDurationSeconds": found["avgSessionDurationSeconds"],
    }
    assert found["arms"]["baseline"]["playerComplaints"] == 1  # the arms stay as they were


async def test_the_summary_fields_are_described_in_the_openapi_document(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    read = schemas["MetricsRead"]["properties"]
    for name in ("playerChurnRate", "avgSessionDuration", "avgSessionDurationSeconds", "playerComplaints"):
        assert "canary arm" in read[name]["description"], name
    assert "ISO 8601" in read["avgSessionDuration"]["description"]
    assert "null without sessions" in schemas["ArmRead"]["properties"]["crashRate"]["description"]


async def test_each_bad_sample_is_named_and_the_good_ones_are_stored(
    client: httpx.AsyncClient, op: Headers, server: Headers, clock: ManualClock, container: Container
) -> None:
    dep = (await running(client, op, server))["id"]
    batch = [
        sample(dep, "canary", "session_start", count=3),  # 0: good
        sample(dep, "canary", "session_start", serverId="nobody"),  # 1: unknown server
        sample("dep_missing", "canary", "session_start"),  # 2: unknown deployment
        sample(dep, "canary", "fps", value="fast"),  # 3: not a number
        sample(dep, "canary", "session_end", value=-5),  # 4: a negative duration
        sample(dep, "canary", "crash", value=1.0),  # 5: a counter with a value
        sample(dep, "middle", "crash"),  # 6: no such arm
        sample(dep, "canary", "crash", colour="red"),  # 7: unknown field
        sample(dep, "canary", "Bad Name!"),  # 8: not a metric name
        sample(dep, "canary", "crash", at=(clock.now() + timedelta(hours=1)).isoformat()),  # 9: future
        sample(dep, "canary", "crash", region="EU-WEST"),  # 10: not where na-1 is
        sample(dep, "baseline", "session_start", count=2),  # 11: good
        "not an object",  # 12
        {"serverId": "na-1", "metric": "session_start", "arm": "canary"},  # 13: an arm without a deployment
        {"serverId": "na-1", "metric": "session_start", "deploymentId": dep},  # 14: a deployment without an arm
        {"serverId": "na-1", "metric": "session_start", "playerId": "p9"},  # 15: good: activity only
        sample(dep, "canary", "purchase", value=1e300),  # 16: past any price
        sample(dep, "canary", "purchase", value=1e13),  # 17: out of range
        sample(dep, "canary", "crash", serverId="na-1 "),  # 18: a trailing space
        sample(dep + "\n", "canary", "crash"),  # 19: a trailing newline
        sample(dep, "canary", "crash\n"),  # 20
        sample({}, "canary", "crash", serverId=[]),  # 21: ids that are not strings
    ]
    content = json.dumps({"samples": batch})
    r = await client.post(
        "/api/v1/metrics", headers=server | {"content-type": "application/json"}, content=content.encode()
    )
    body = problem(r, 422)
    assert fields(body) == [
        "body.samples[1].serverId",
        "body.samples[2].deploymentId",
        "body.samples[3].value",
        "body.samples[4].value",
        "body.samples[5].value",
        "body.samples[6].arm",
        "body.samples[7].colour",
        "body.samples[8].metric",
        "body.samples[9].at",
        "body.samples[10].region",
        "body.samples[12]",
        "body.samples[13].deploymentId",
        "body.samples[14].arm",
        "body.samples[16].value",
        "body.samples[17].value",
        "body.samples[18].serverId",
        "body.samples[19].deploymentId",
        "body.samples[20].metric",
        "body.samples[21].serverId",
    ]
    assert body["errors"][3]["message"] == "a duration cannot be negative"
    assert (body["accepted"], body["acceptedIndexes"]) == (3, [0, 11, 15])
    arms = (await metrics_of(client, op, dep))["arms"]
    assert (arms["canary"]["sessions"], arms["baseline"]["sessions"]) == (3, 2)
    rejected = container.metrics.registry.get_sample_value("hotswap_metric_samples_total", {"outcome": "rejected"})
    assert rejected == 19


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ('{"serverId": "na-1", "metric": "fps", "value": NaN}', "body.samples.1.value"),
        ('{"serverId": "na-1", "metric": "purchase", "value": ' + "9" * 400 + "}", "body.samples.1.value"),
        ('{"serverId": "na-1\\u0000", "metric": "crash"}', "body.samples.1.serverId"),
        ('{"serverId": "na-1", "\\ud800": 1}', "body.samples.1"),
    ],
    ids=["NaN", "400 digits", "NUL", "lone surrogate"],
)
async def test_a_batch_holding_what_is_not_json_is_refused_whole(
    item: str, field: str, client: httpx.AsyncClient, op: Headers, server: Headers, count_rows: Any
) -> None:
    # Not JSON, or not storable anywhere: the text is refused as it is parsed, before any item
    # is counted, so a client that retries the batch without the bad item counts the good once.
    dep = (await running(client, op, server))["id"]
    good = json.dumps(sample(dep, "canary", "session_start", count=1))
    r = await client.post(
        "/api/v1/metrics",
        headers=server | {"content-type": "application/json"},
        content=f'{{"samples": [{good}, {item}]}}'.encode(),
    )
    assert fields(problem(r, 422)) == [field]
    assert await count_rows("metric_aggregates") == 0


async def test_a_batch_over_the_limit_is_refused_whole(
    client: httpx.AsyncClient, op: Headers, server: Headers, count_rows: Any
) -> None:
    dep = (await running(client, op, server))["id"]
    r = await send(client, server, [sample(dep, "canary", "session_start")] * (MAX_BATCH + 1))
    assert fields(problem(r, 422)) == ["body.samples"]
    assert await count_rows("metric_aggregates") == 0
    assert fields(problem(await send(client, server, []), 422)) == ["body.samples"]


async def test_readers_cannot_report(client: httpx.AsyncClient, op: Headers, server: Headers, auth: Any) -> None:
    dep = (await running(client, op, server))["id"]
    viewer = await auth("viewer", "vic")
    problem(await send(client, viewer, [sample(dep, "canary", "crash")]), 403)
    problem(await client.post("/api/v1/metrics", json={"samples": []}), 401)


async def test_batches_at_once_add_up(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container
) -> None:
    dep = (await running(client, op, server))["id"]
    batch = [sample(dep, arm, "session_start", playerId=f"p{i}") for i in range(50) for arm in ("canary",)]
    batch += [sample(dep, "canary", "fps", value=float(v)) for v in range(1, 11)]
    answers = await asyncio.gather(*(send(client, server, batch) for _ in range(8)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    arms = (await metrics_of(client, op, dep))["arms"]
    assert (arms["canary"]["sessions"], arms["canary"]["players"]) == (400, 50)
    assert arms["canary"]["fps"]["mean"] == pytest.approx(5.5)
    async with container.uow(read_only=True) as uow:
        sketch = await uow.conn.scalar(sa.select(metric_aggregates.c.sketch).where(metric_aggregates.c.metric == "fps"))
    assert sketch is not None
    assert sketch["count"] == 80  # every batch's sketch merged, none lost


async def test_samples_are_kept_per_minute_and_per_server_for_server_health(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    dep = (await running(client, op, server))["id"]
    for _ in range(3):
        r = await send(
            client,
            server,
            [
                sample(dep, "canary", "server_tick_rate", value=60.0),
                sample(dep, "canary", "server_tick_rate", serverId="na-2", value=30.0),
                sample(dep, "canary", "session_start"),
            ],
        )
        assert r.status_code == 200, r.text
        clock.advance(timedelta(seconds=40))
    async with container.uow(read_only=True) as uow:
        rows = (
            await uow.conn.execute(
                sa.select(metric_aggregates.c.metric, metric_aggregates.c.source, metric_aggregates.c.count).order_by(
                    metric_aggregates.c.window_start, metric_aggregates.c.metric, metric_aggregates.c.source
                )
            )
        ).all()
    minutes = {(m, s) for m, s, _ in rows}
    assert minutes == {("server_tick_rate", "na-1"), ("server_tick_rate", "na-2"), ("session_start", "")}
    assert len(rows) == 6  # 0 s, 40 s in the first minute; 80 s in the second
