"""The parts of the ingest pipeline and the contract between them.

    Source ──► Member ──► Format ──► Record ──► extract ──► Found ──► fingerprint ──► store
    file, dir  a named    by content  a row, an   key, secret,         sha256 in the
    url, tweet byte blob  (registry)  object, a   passphrase?,         reading process;
    archive               csv json …  message     exchange             plaintext ends here

- A `Source` (sources/) turns what the user named into Members: a file, each file of a
  directory, each member of an archive at any depth, a fetched page and the files it links,
  a tweet.
- A `Format` (formats/, one class each, one registry) recognises a member by its content
  and yields Records: the unit inside which a key, its secret and its passphrase belong
  together. A Record carries named fields (a row with its header, an object's values, a
  config's assignments), free text (a message, a line, a source file), or both.
- `extract` pairs the values of a Record into credentials (`Found`), takes the exchange
  from the record or the key shapes, and drops placeholders.

A bad record is `problems.add(reason, position, field)`: named by place, never by value,
and reading goes on (`--strict` makes the first one fatal). A member that cannot be read
at all raises InputError with its place. Nothing here writes anything anywhere.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, ClassVar, NamedTuple

from incident.errors import InputError, Place, Problems

HEAD = 64 * 1024  # what sniffing sees of a member
# Formats that must hold a whole member in memory (JSON, XLSX, HTML, ...) refuse one
# larger than this; line formats stream whatever the size.
MAX_WHOLE = 256 * 1024 * 1024


@dataclass(frozen=True)
class Member:
    """One named byte blob of a source: a file, an archive member, a page, a tweet.

    `name` is where it is, used in every message and locator: `dump.zip!keys/a.csv`,
    `https://paste.example/raw/x`, `twitter:@handle/status/1234`."""

    name: str
    opener: Callable[[], BinaryIO] = field(repr=False, compare=False)
    size: int | None = None  # when known without reading
    media_type: str | None = None  # what a server said it is (a hint, never trusted alone)
    _head: list[bytes] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def of_bytes(cls, name: str, data: bytes, media_type: str | None = None) -> Member:
        return cls(name, lambda: io.BytesIO(data), len(data), media_type)

    def open(self) -> BinaryIO:
        """A fresh binary stream from the start."""
        return self.opener()

    def head(self) -> bytes:
        """The first HEAD bytes (read once)."""
        if not self._head:
            with self.open() as raw:
                self._head.append(raw.read(HEAD))
        return self._head[0]

    @property
    def suffix(self) -> str:
        """The lower-case file extension of the member's last path part ('' if none)."""
        last = self.name.rsplit("!", 1)[-1].rsplit("/", 1)[-1].split("?", 1)[0]
        return last.rsplit(".", 1)[-1].lower() if "." in last else ""

    @property
    def basename(self) -> str:
        return self.name.rsplit("!", 1)[-1].rsplit("/", 1)[-1].split("?", 1)[0]

    def read_all(self) -> bytes:
        """The whole member, for formats that need it all; refuses one over MAX_WHOLE."""
        with self.open() as raw:
            data = raw.read(MAX_WHOLE + 1)
        if len(data) > MAX_WHOLE:
            raise InputError(f"larger than {MAX_WHOLE >> 20} MiB, too large for this format",
                             Place(self.name))
        return data


@dataclass(slots=True)
class Record:
    """A unit inside which a key, its secret and its passphrase belong together.

    `position` counts what the format's `unit` says (line, row, record, message), from 1.
    `fields`: (name, value) pairs in order, names as the dump spells them. `text`: free
    text to scan for credentials. `exchange`: what the record itself says its exchange is
    (a column, a label, a ccxt class name, an env-var prefix), raw; None if it says nothing.
    `sub`: a finer place inside the member, for the locator (`sheet Keys`, `table users`)."""

    position: int
    fields: Sequence[tuple[str, str]] = field(default=(), repr=False)
    text: str = field(default="", repr=False)
    exchange: str | None = None
    sub: str | None = None


class Format:
    """One way dumps are written. Subclasses set `name` and `unit` and implement both
    methods; register the class in formats.FORMATS."""

    name: ClassVar[str]
    unit: ClassVar[str]  # what Record.position counts: line | row | record | message

    def sniff(self, member: Member) -> bool:
        """Whether the member is in this format, judged by its content (member.head(),
        and the name only as a hint). Cheap: no full read."""
        raise NotImplementedError

    def records(self, member: Member, problems: Problems) -> Iterator[Record]:
        """The member's records. A bad record: problems.add(reason, position, field), and
        go on. Unreadable as a whole: raise InputError naming member.name and the place.
        Never put a value from the member into a message."""
        raise NotImplementedError


class Found(NamedTuple):
    """One credential found in a record: plaintext, in memory only, until fingerprinted.
    (A tuple, because a million of them are made in a hot loop; its repr is masked.)"""

    key: str
    secret: str | None
    has_passphrase: bool | None  # None: the record cannot say (no passphrase field)
    exchange: str  # a ccxt id, or "unknown"
    swapped: bool = False  # the secret stood where the key should (now put right)

    def __repr__(self) -> str:
        return (f"Found(key=<masked>, secret={'<masked>' if self.secret else None}, "
                f"has_passphrase={self.has_passphrase}, exchange={self.exchange!r}, "
                f"swapped={self.swapped})")

    def __str__(self) -> str:
        return self.__repr__()


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """What a source may do. Times in seconds, sizes in bytes."""

    max_bytes: int = 512 * 1024 * 1024  # a URL's body, an archive member's expanded size
    timeout: float = 30.0
    wait: bool = False  # on a rate limit, wait for it to reset instead of stopping
    twitter_token: str | None = field(default=None, repr=False)


class SourceState:
    """What a source remembers between runs (the newest tweet id of a Twitter source).
    The pipeline loads it before reading and saves it in the dump's transaction."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = dict(values or {})

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str) -> None:
        self.values[key] = value


class Source:
    """What the user named on the command line. Subclasses set `kind`, and implement
    `members` (and `handles`, for the registry to pick one)."""

    kind: ClassVar[str]  # file | directory | url | twitter

    def __init__(self, spec: str, options: SourceOptions, state: SourceState) -> None:
        self.spec = spec
        self.options = options
        self.state = state
        self.skipped: list[str] = []  # what was left out, by place: "URL: HTTP 404"

    @classmethod
    def handles(cls, spec: str) -> bool:
        raise NotImplementedError

    def members(self) -> Iterator[Member]:
        """Every member, archives not yet opened (the pipeline opens them). Raise
        InputError (bad input) or ServiceError (a server failed) naming the place."""
        raise NotImplementedError


