"""Targeting conditions: our compiled callables against the `growthbook` package's evaluator.

20 targeting conditions of the kind game teams write (two attributes each, plus a few with
versions, regexes, lists and nesting), evaluated over 100,000 varied player contexts, in one
run. Prints evaluations per second for both and the ratio. This measures conditions only; the
target on whole feature evaluation (3x) is measured by bench/evaluate.py once features
are evaluated by our engine.

    .venv/bin/python bench/conditions.py [--contexts 100000]
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from growthbook.core import evalCondition

from hotswap.targeting.conditions import compile_condition

COUNTRIES = ["US", "DE", "FR", "BR", "JP", "KR", "GB", "CA", "IN", "MX"]
PLATFORMS = ["ios", "android", "pc", "ps5", "xbox", "switch"]


def conditions() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(20):
        kind = i % 5
        if kind == 0:
            out.append({"country": {"$in": COUNTRIES[: 2 + i % 5]}, "level": {"$gte": 10 + i}})
        elif kind == 1:
            out.append({"platform": PLATFORMS[i % 6], "spend": {"$gt": i * 5}})
        elif kind == 2:
            out.append({"appVersion": {"$vgte": f"2.{i % 4}.0"}, "country": {"$nin": ["KR", "CN"]}})
        elif kind == 3:
            out.append({"$or": [{"tags": {"$elemMatch": {"$eq": "whale"}}}, {"level": {"$gt": 50}}], "beta": True})
        else:
            out.append({"device.model": {"$regex": "^Pixel"}, "daysSinceInstall": {"$lt": 7 + i}})
    return out


def contexts(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "id": f"p{i}",
            "country": rng.choice(COUNTRIES),
            "platform": rng.choice(PLATFORMS),
            "level": rng.randint(1, 100),
            "spend": rng.choice([0, 0, 0, 5, 20, 100, 500]),
            "appVersion": f"{rng.randint(1, 3)}.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
            "tags": rng.sample(["whale", "pvp", "casual", "guild", "new"], k=rng.randint(0, 3)),
            "beta": rng.random() < 0.2,
            "device": {"model": rng.choice(["Pixel 8", "iPhone 15", "Galaxy S24", "Pixel 7a"])},
            "daysSinceInstall": rng.randint(0, 400),
        }
        for i in range(n)
    ]


def main(n: int) -> None:
    conds = conditions()
    ctxs = contexts(n)
    compiled = [compile_condition(c) for c in conds]

    start = time.perf_counter()
    ours = [[p(ctx) for p in compiled] for ctx in ctxs]
    ours_s = time.perf_counter() - start

    start = time.perf_counter()
    theirs = [[evalCondition(ctx, c) for c in conds] for ctx in ctxs]
    theirs_s = time.perf_counter() - start

    assert ours == theirs, "the two evaluators disagree"
    evaluations = n * len(conds)
    ours_rate, theirs_rate = evaluations / ours_s, evaluations / theirs_s
    print(f"{len(conds)} conditions x {n} contexts = {evaluations} evaluations each; results identical")
    print(f"hotswap compiled conditions  {ours_rate:12,.0f} evaluations/s")
    print(f"growthbook evalCondition     {theirs_rate:12,.0f} evaluations/s")
    print(f"ratio                        {ours_rate / theirs_rate:12.2f} x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--contexts", type=int, default=100_000)
    main(parser.parse_args().contexts)
