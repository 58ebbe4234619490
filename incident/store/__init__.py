"""The data store: one SQLite database in the data directory. The only SQL in the package
lives under this package."""

from incident.store.db import Store

__all__ = ["Store"]
