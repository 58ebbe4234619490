"""Exchanges incident knows by name. Connectors (ccxt for data, signed REST for key
management) join this package later; the names here are ccxt's exchange ids."""
