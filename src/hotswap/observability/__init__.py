"""Observability: metrics, logs, traces."""
