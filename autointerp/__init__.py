"""autointerp: an agentic automated-interpretability service (application layer: CLI)."""

__version__ = "0.1.0"
