"""What dumps call their fields: the many spellings of key, secret, passphrase, exchange.

`role_of("API Key")` is "key"; `role_of("BINANCE_API_SECRET")` is "secret" with the prefix
"binance" as `prefix_of` finds it. Names are compared folded: lower case, with every
character that is not a letter or digit dropped, so `apiKey`, `api_key`, `API-Key` and
`api key` are one name. Unknown names have no role; a value's shape may still give it one.
"""

from __future__ import annotations

import re

from incident.exchanges.names import lookup

ROLES = ("key", "secret", "passphrase", "exchange")

_SPELLINGS: dict[str, tuple[str, ...]] = {
    "key": ("key", "apikey", "accesskey", "accesskeyid", "publickey", "pubkey", "keyid",
            "apikeyid", "clientid", "apiid", "consumerkey", "token", "apitoken", "api"),
    "secret": ("secret", "apisecret", "secretkey", "privatekey", "apisecretkey",
               "secretaccesskey", "apiprivatekey", "privkey", "clientsecret", "seckey",
               "apisec", "consumersecret", "signingkey", "sec"),
    "passphrase": ("passphrase", "password", "pass", "apipassphrase", "apipassword",
                   "pwd", "apipass", "tradingpassword", "phrase"),
    "exchange": ("exchange", "market", "marketcode", "exchangename", "exchangeid",
                 "exchangecode", "platform", "venue", "exchangetype", "broker"),
}
_ROLE_OF: dict[str, str] = {name: role for role, names in _SPELLINGS.items()
                            for name in names}
_FOLD = re.compile(r"[^0-9a-z]+")
# A name ending in one of these, after a prefix: BINANCE_API_KEY, okx.secret, KUCOIN_PASSPHRASE
_SUFFIXES = sorted(_ROLE_OF, key=len, reverse=True)


def fold(name: str) -> str:
    return _FOLD.sub("", name.lower())


def role_of(name: str) -> str | None:
    """The role a field name gives its value: key, secret, passphrase, exchange, or None."""
    return _ROLE_OF.get(fold(name))


def prefixed_role(name: str) -> tuple[str, str] | None:
    """(prefix, role) of a name like BINANCE_API_KEY or bybit.apiSecret: the folded prefix
    before a role's spelling, when there is one (the caller checks it names an exchange)."""
    folded = fold(name)
    if folded in _ROLE_OF:
        return None
    for suffix in _SUFFIXES:
        if len(suffix) >= 3 and folded.endswith(suffix) and len(folded) > len(suffix):
            return folded[: -len(suffix)], _ROLE_OF[suffix]
    return None


def exchange_role(name: str) -> tuple[str, str] | None:
    """(ccxt id, role) of a name whose prefix is an exchange: BINANCE_API_KEY, okx.secret."""
    found = prefixed_role(name)
    if found is None:
        return None
    exchange = lookup(found[0])
    return None if exchange is None else (exchange, found[1])


def header_score(names: list[str]) -> int:
    """How much a row looks like a header: the number of distinct key/secret roles its
    cells name (0, 1 or 2), counting a passphrase or exchange name as half a point. A
    name with an exchange prefix (BINANCE_API_KEY) counts for its role."""
    roles = {role_of(n) or (exchange_role(n) or (None, None))[1] for n in names}
    return 2 * len(roles & {"key", "secret"}) + len(roles & {"passphrase", "exchange"})
