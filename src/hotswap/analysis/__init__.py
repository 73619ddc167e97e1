"""Canary analysis: pure statistics that turn per-arm aggregates into verdicts.

No I/O, no database, no clock: the caller hands in cumulative aggregates per arm (canary, on the
new version; baseline, on the old) and the current time, and gets back verdicts it can store as
JSON. `stats` holds the aggregates and the tests, `policy` what a deployment is judged on,
`verdicts` the per-metric and per-look decisions, `sketch` a mergeable quantile sketch.
"""
