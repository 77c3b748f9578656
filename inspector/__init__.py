"""inspector: an audit-and-replay inspector for SQL event stores."""

__version__ = "0.1.0"
