"""Event templates: reusable designs that live events are made from."""
