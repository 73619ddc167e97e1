"""HotSwap: live-ops configuration for online games."""

__version__ = "0.1.0"
