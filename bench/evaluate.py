"""Feature evaluation: our compiled features against the `growthbook` package's evaluator.

20 features, each with one rule of the kind a live-ops team ships: a two-attribute target
(country in a list AND level >= N) served to a 30% rollout of it (a force rule with a rollout
range [0, 0.3], hashing the player id), evaluated for 100,000 varied player contexts, in one
run. GrowthBook is driven through ONE reused GrowthBook instance: set the attributes of each
context, then eval_feature for all 20 features. Both engines must give the same value for every
evaluation; then it prints evaluations per second for each and the ratio (target: 3x).

Why `range` and not `coverage: 0.3`: the two mean the same 30%, except for a unit hashing exactly
onto 0.3, which the reference JavaScript SDK (and we) include and growthbook-python 4.0.0
excludes (it made coverage half-open). A range is half-open in every SDK, so the values can be
compared for every evaluation.

    .venv/bin/python bench/evaluate.py [--contexts 100000]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime
from typing import Any

from growthbook import GrowthBook

from hotswap.targeting.features import compile_features, evaluate_feature
from hotswap.targeting.snapshot import Context, compile_snapshot

COUNTRIES = ["US", "DE", "FR", "BR", "JP", "KR", "GB", "CA", "IN", "MX"]


def features() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(20):
        key = f"feature-{i:02d}"
        rule: dict[str, Any] = {
            "id": f"fr_{i}",
            "condition": {"country": {"$in": COUNTRIES[i % 4 : i % 4 + 4 + i % 4]}, "level": {"$gte": 5 + 2 * i}},
            "force": {"variant": "new", "tier": i} if i % 3 == 0 else True,
            "range": [0, 0.3],
            "hashAttribute": "id",
            "seed": key,
        }
        if i % 2:  # half on GrowthBook's current hash version, half on the older default
            rule["hashVersion"] = 2
        out[key] = {"defaultValue": False, "rules": [rule]}
    return out


def snapshot_document(defs: dict[str, Any]) -> dict[str, Any]:
    """The same features as configs of a snapshot (what the player query evaluates): a config's
    value is an object, so each value is wrapped as {"v": value}. Rollouts there always hash
    with version 2, so the comparison with GrowthBook uses all-version-2 definitions."""
    configs = {}
    for key, feature in defs.items():
        rule = feature["rules"][0]
        configs[key] = {
            "version": "1.0.0",
            "value": {"v": feature["defaultValue"]},
            "rules": [
                {
                    "id": rule["id"],
                    "condition": rule["condition"],
                    "rollout": {"percentage": 30, "hashAttribute": "id", "seed": rule["seed"]},
                    "value": {"v": rule["force"]},
                }
            ],
        }
    return {"environment": "Production", "revision": 1, "configs": configs, "segments": {}}


def all_version_2(defs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, feature in defs.items():
        out[key] = {**feature, "rules": [{**r, "hashVersion": 2} for r in feature["rules"]]}
    return out


def contexts(n: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "id": f"player-{rng.getrandbits(40):010x}",
            "country": rng.choice(COUNTRIES),
            "level": rng.randint(1, 100),
            "platform": rng.choice(["ios", "android", "pc"]),
        }
        for _ in range(n)
    ]


def growthbook_values(defs: dict[str, Any], ctxs: list[dict[str, Any]]) -> tuple[list[list[Any]], float]:
    """Every feature's value for every context, with ONE reused GrowthBook instance, and the time."""
    gb = GrowthBook(features=defs)
    start = time.perf_counter()
    values = []
    for ctx in ctxs:
        gb.set_attributes(ctx)
        values.append([gb.eval_feature(key).value for key in defs])
    seconds = time.perf_counter() - start
    gb.set_attributes({})  # destroy() clears the attributes dict it holds: the last context
    gb.destroy()
    return values, seconds


def main(n: int) -> None:
    defs = features()
    keys = list(defs)
    ctxs = contexts(n)
    compiled = compile_features(defs)

    start = time.perf_counter()
    ours = [[evaluate_feature(compiled, key, ctx).value for key in keys] for ctx in ctxs]
    ours_s = time.perf_counter() - start

    theirs, theirs_s = growthbook_values(defs, ctxs)

    assert ours == theirs, "the two engines disagree"

    # The player query's engine (the compiled snapshot), against GrowthBook on the same rules.
    v2 = all_version_2(defs)
    snapshot = compile_snapshot(snapshot_document(v2))
    now = datetime.now(UTC)
    start = time.perf_counter()
    snap = [
        [
            c["value"]["v"]
            for c in snapshot.evaluate(Context(player_id=ctx["id"], attributes=ctx), now)["configs"].values()
        ]
        for ctx in ctxs
    ]
    snap_s = time.perf_counter() - start
    theirs_v2, theirs_v2_s = growthbook_values(v2, ctxs)
    assert snap == theirs_v2, "the snapshot and GrowthBook disagree"

    evaluations = n * len(keys)
    served = sum(v is not False for row in ours for v in row)
    ours_rate, theirs_rate = evaluations / ours_s, evaluations / theirs_s
    print(f"{len(keys)} features x {n} contexts = {evaluations} evaluations each; values identical")
    print(f"({served} evaluations served a rule, {served / evaluations:.1%})")
    print(f"hotswap evaluate_feature     {ours_rate:12,.0f} evaluations/s")
    print(f"growthbook eval_feature      {theirs_rate:12,.0f} evaluations/s")
    print(f"ratio                        {ours_rate / theirs_rate:12.2f} x")
    snap_rate, theirs_v2_rate = evaluations / snap_s, evaluations / theirs_v2_s
    print("\nthe same rules as configs of a compiled snapshot (the player query's engine), hash version 2:")
    print(f"hotswap snapshot evaluate    {snap_rate:12,.0f} evaluations/s (all 20 configs per call)")
    print(f"growthbook eval_feature      {theirs_v2_rate:12,.0f} evaluations/s")
    print(f"ratio                        {snap_rate / theirs_v2_rate:12.2f} x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--contexts", type=int, default=100_000)
    main(parser.parse_args().contexts)
