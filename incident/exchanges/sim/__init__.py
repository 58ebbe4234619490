"""A simulated crypto exchange on loopback: Binance spot's and Bybit v5's REST dialects on
one port, over a deterministic world (`world.py`) of markets, accounts, keys and an attack.
The server (`server.py`) is what `incident sim-exchange` runs; tests, the demo and the
benchmarks point the real, unmodified ccxt at it."""
