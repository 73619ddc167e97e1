"""Shared kernel: no slice imports allowed from here."""
