"""incident: respond to leaked crypto-exchange API keys.

Importing this package imports nothing else, so an installed copy can be inspected
(version, shipped resources) without its dependencies.
"""

__version__ = "0.1.0"
