"""Outgoing webhooks: signed deliveries of deployment changes, from an outbox."""
