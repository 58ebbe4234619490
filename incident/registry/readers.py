"""Reading key files into rows: the three layouts `incident keys import` accepts.

- plaintext CSV: `exchange,label,api_key[,api_secret][,passphrase]`, hashed as read;
- fingerprint CSV: `exchange,label,key_sha256[,secret_sha256]` (also `key_hmsl`,
  `secret_hmsl`, `has_passphrase`): what a platform exports from its own database;
- ggshield's `mapping.txt` from `ggshield hmsl fingerprint`: `hmsl-hash[:name]` lines.

Readers stream: one row in memory at a time. A bad row is recorded with its place (file,
line, column) and never its content; reading goes on so one pass reports every problem.
Plaintext rows are hashed inside the reading loop; only for hmsl (slow, so batched over
every core) does a bounded chunk of canonical plaintext leave it, to be hashed at once.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import itertools
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from incident.errors import InputError, Place, Problems, UsageError
from incident.exchanges.names import lookup, resolve
from incident.fingerprint import hmsl, parse_hex
from incident.secret import EDGE, canonical
from incident.streams import batched

# Rows of the fingerprint layouts: the values of Layout.columns, then the line.
HashedRow = tuple[object, ...]

PLAINTEXT_COLUMNS = ("exchange", "label", "api_key", "api_secret", "passphrase")
FINGERPRINT_COLUMNS = ("exchange", "label", "key_sha256", "secret_sha256", "key_hmsl",
                       "secret_hmsl", "has_passphrase")
Hasher = Callable[[bytes], Any]  # hashlib.sha256 and its kind
MAX_LABEL = 200
MAX_LINE = 1024 * 1024  # a key file's line is ~200 bytes; a longer one is garbage
CHUNK = 2_000
_MAPPING_LINE = re.compile(r"[0-9a-f]{64}(:.*)?")
_BOOL = {"": None, "1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


@dataclass(frozen=True, slots=True)
class Layout:
    name: str  # plaintext | fingerprints | hmsl-mapping
    plaintext: bool
    columns: tuple[str, ...]  # registry columns of a row, in order, before its line


PLAINTEXT = Layout("plaintext", True, ())  # columns: see plaintext_columns()
FINGERPRINTS = Layout("fingerprints", False, FINGERPRINT_COLUMNS)
HMSL_MAPPING = Layout("hmsl-mapping", False, ("exchange", "label", "key_hmsl"))


def text_lines(raw: BinaryIO, problems: Problems, end: int | None = None,
               first_line: int = 1) -> Iterator[str]:
    """The lines of a key file as text: UTF-8 (BOM or not), or UTF-16 with its BOM.

    UTF-8 is decoded line by line, so a bad byte is named by its line and the reading goes
    on; an undecodable line comes out blank (the line count stays right). With `end`, stop
    at that byte offset (a line boundary: see split_ranges); `first_line` numbers the line
    at the current position."""
    head = raw.peek(4)[:4] if hasattr(raw, "peek") else b""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        n = 0
        text = io.TextIOWrapper(raw, encoding="utf-16", newline="\n")
        try:
            for n, line in enumerate(text, 1):
                yield line
        except UnicodeDecodeError:  # decoded a block at a time: the line is a lower bound
            problems.add("not valid UTF-16 text at or after this line; reading stopped here",
                         n + 1)
        finally:
            text.detach()  # the caller owns `raw`: a collected wrapper would close it
        return
    left = None if end is None else end - raw.tell()
    readline = functools.partial(raw.readline, MAX_LINE + 1)
    for n, data in enumerate(iter(readline, b""), first_line):
        if left is not None:
            if left <= 0:
                return
            left -= len(data)
        if len(data) > MAX_LINE:  # memory stays bounded: never hold a longer line
            while data and not data.endswith(b"\n"):
                data = raw.readline(MAX_LINE)
                if left is not None:
                    left -= len(data)
            problems.add(f"longer than {MAX_LINE // 1024 // 1024} MiB; skipped", n)
            yield "\n"
            continue
        if n == 1 and data.startswith(codecs.BOM_UTF8):  # (first_line 1: the file's start)
            data = data[len(codecs.BOM_UTF8):]
        try:
            yield data.decode("utf-8")
        except UnicodeDecodeError as e:
            problems.add(f"not valid UTF-8 (byte {e.start + 1} of the line)", n)
            yield "\n"


def split_ranges(raw: BinaryIO, parts: int, min_size: int) -> list[tuple[int, int | None]]:
    """Byte ranges [start, end) of a key file that separate readers can take, each ending
    at a newline: the whole file as one range unless it is at least `min_size` bytes of
    plain CSV (no UTF-16, no mapping lines) with no quote character anywhere. Only a quoted
    field can span lines; without one, every newline ends a record. Reads in bounded
    chunks (a memory map of the file would count it all as resident)."""
    whole: list[tuple[int, int | None]] = [(0, None)]
    try:
        size = os.fstat(raw.fileno()).st_size
        if parts < 2 or size < min_size or not raw.seekable():
            return whole
        raw.seek(0)
        if raw.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return whole
        raw.seek(0)
        first = b""
        while not first.strip():  # the header: the first line that is not blank
            first = raw.readline(MAX_LINE + 1)
            if not first or len(first) > MAX_LINE:
                return whole
        header_end = raw.tell()
        if _MAPPING_LINE.fullmatch(first.removeprefix(codecs.BOM_UTF8).strip().decode(
                "utf-8", "replace")):
            return whole  # mapping files are small: never split
        return quote_free_cuts(raw, size, header_end, parts) or whole
    except (OSError, ValueError):  # not a regular file, or one that cannot be read so
        return whole
    finally:
        if raw.seekable():
            raw.seek(0)


def quote_free_cuts(raw: BinaryIO, size: int, header_end: int, parts: int
                    ) -> list[tuple[int, int | None]] | None:
    """Byte ranges [start, end) of a delimited file of `size` bytes whose header ends at
    byte `header_end`, each ending at a newline after the header; None when a quote
    character stands anywhere in it (a quoted field may span lines, so a newline need not
    end a record). Reads in bounded chunks."""
    raw.seek(0)
    while chunk := raw.read(1 << 20):
        if b'"' in chunk:
            return None
    cuts = [0]
    for i in range(1, parts):
        raw.seek(max(size * i // parts, header_end - 1))  # never before the header ends
        rest = raw.readline(MAX_LINE + 1)  # to the end of the line the cut falls in
        cut = raw.tell()
        if not rest.endswith(b"\n") or cut <= max(cuts[-1], header_end - 1) or cut >= size:
            break
        cuts.append(cut)
    cuts.append(size)
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def lines_before(raw: BinaryIO, offset: int) -> int:
    """How many newlines the first `offset` bytes hold, read in bounded chunks."""
    raw.seek(0)
    count, left = 0, offset
    while left > 0:
        chunk = raw.read(min(left, 1 << 20))
        if not chunk:
            break
        count += chunk.count(b"\n")
        left -= len(chunk)
    return count


def clean_label(value: str) -> str | None:
    label = value.strip()
    if not label or len(label) > MAX_LABEL or not label.isprintable():
        return None
    return label


class KeyFileReader:
    """Reads one key file. `layout` is known after construction; iterate `chunks()`."""

    def __init__(self, lines: Iterator[str], source: str, problems: Problems,
                 default_exchange: str | None = None, data_line0: int | None = None) -> None:
        """`lines`: the header, then rows. `data_line0`: the number of the line before the
        first row, when the rows are a range of the file (see split_ranges); by default
        the header's."""
        self.lines = lines
        self.source = source
        self.problems = problems
        self.default_exchange = default_exchange
        self._line = 0  # the line being read, for csv errors
        self._lines_before = 0  # blank lines before the header
        self._first_lineno = 1  # the header's line
        first = self._first_line()
        if first is None:
            raise InputError("empty file: no header and no rows", Place(source))
        self._first = first
        self._data_line0 = self._first_lineno if data_line0 is None else data_line0
        if _MAPPING_LINE.fullmatch(first.rstrip("\r\n")):
            self.layout = HMSL_MAPPING
            self.header: list[str] = []
        else:
            self._read_header(first)

    def _first_line(self) -> str | None:
        for line in self.lines:
            if self.problems:  # the header line itself could not be read
                self.problems.raise_if_any()
            if line.strip():
                self._first_lineno = self._lines_before + 1
                return line
            self._lines_before += 1
        self.problems.raise_if_any()
        return None

    def _read_header(self, first: str) -> None:
        line = self._first_lineno
        if "\r" in first.rstrip("\r\n"):
            raise InputError("lines end in a lone CR (classic Mac): convert the file to LF "
                             "or CRLF line endings", Place(self.source, line))
        delimiter = max(",;\t|", key=first.count)
        self.delimiter = delimiter
        try:
            cells = next(csv.reader([first], delimiter=delimiter, strict=True))
        except csv.Error as e:
            raise InputError(f"malformed header ({e})", Place(self.source, line)) from e
        self.header = [h.strip().lower() for h in cells]
        names = set(self.header)
        allowed: tuple[str, ...]
        required: tuple[str, ...]
        if "api_key" in names or "api_secret" in names:
            self.layout, allowed = PLAINTEXT, PLAINTEXT_COLUMNS
            required = ("exchange", "label", "api_key")
        elif names & {"key_sha256", "key_hmsl", "secret_sha256", "secret_hmsl"}:
            self.layout, allowed = FINGERPRINTS, FINGERPRINT_COLUMNS
            required = ("exchange", "label")
            if not names & {"key_sha256", "key_hmsl"}:
                self.problems.add("missing column: one of key_sha256, key_hmsl is required",
                                  line)
        else:
            raise InputError(
                "header names neither a plaintext layout (exchange,label,api_key,api_secret"
                "[,passphrase]) nor a fingerprint layout (exchange,label,key_sha256"
                "[,secret_sha256]), and the file is not a ggshield mapping.txt",
                Place(self.source, line),
            )
        if self.default_exchange:
            required = tuple(c for c in required if c != "exchange")
        for col in required:
            if col not in names:
                self.problems.add(f"missing column '{col}'", line)
        # A header cell is echoed only when it is a name this layout knows: a header whose
        # newline is missing runs into the first row, whose cells are key material.
        for position, col in enumerate(self.header, start=1):
            if col not in allowed:
                self.problems.add(f"header cell {position} is not a column this layout "
                                  f"takes ({', '.join(allowed)})", line)
        seen: set[str] = set()
        for col in self.header:
            if col in seen and col in allowed:
                self.problems.add("column named twice", line, col)
            seen.add(col)

    def chunks(self, hasher: Hasher | None = None) -> Iterator[list[tuple[object, ...]]]:
        """The file's good rows, in lists of up to CHUNK (a list per step, not a generator
        resume per row: at a million rows that is most of the time). Plaintext layout:
        with `hasher` (a hashlib constructor), keys and secrets come as the digest of their
        canonical UTF-8; without, as canonical plaintext."""
        if self.problems:
            return iter(())
        if self.layout.plaintext:
            return self._guarded(self._plaintext_chunks(hasher))
        rows = self._fingerprint_rows() if self.layout is FINGERPRINTS else self._mapping_rows()
        return self._guarded(batched(rows, CHUNK))

    def _guarded(self, chunks: Iterator[list[Any]]) -> Iterator[list[Any]]:
        try:
            yield from chunks
        except csv.Error as e:
            # csv's messages describe the syntax ("line contains NUL"), never the data.
            self.problems.add(f"malformed CSV ({e}); reading stopped here", self._line)

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """(line, cells) of each non-blank row of the header's width; a row of another
        width is a problem."""
        width, problems = len(self.header), self.problems
        line = self._data_line0
        for raw in self.lines:
            line += 1
            first, line, row = self._split(raw, line)
            if len(row) != width:
                if len(row) > 1 or "".join(row).strip():
                    problems.add(f"{len(row)} columns, header has {width}", first)
                continue
            yield first, row

    def _split(self, raw: str, line: int) -> tuple[int, int, list[str]]:
        """(first line, last line, cells) of the record that starts with `raw`.

        A line with no quote (and no NUL) is split directly, three times faster than the
        csv module and the same result; any other goes through csv, which also takes the
        following lines of a quoted field that spans several."""
        self._line = line
        if '"' not in raw and "\0" not in raw:
            return line, line, raw.rstrip("\r\n").split(self.delimiter)
        reader = csv.reader(itertools.chain([raw], self.lines), delimiter=self.delimiter,
                            strict=True)
        row = next(reader)
        return line, line + reader.line_num - 1, row

    def plaintext_columns(self, with_hmsl: bool) -> tuple[str, ...]:
        """The registry columns a plaintext file fills once hashed. Without a passphrase
        column, whether a passphrase exists is unknown (NULL), not false."""
        return (("exchange", "label", "key_sha256", "secret_sha256")
                + (("key_hmsl", "secret_hmsl") if with_hmsl else ())
                + (("has_passphrase",) if "passphrase" in self.header else ()))

    def _exchange(self, raw: str, line: int, cache: dict[str, str]) -> str | None:
        """The exchange a cell names (or --exchange for an empty one), or None after
        recording the problem. Known answers go into `cache` (dumps name few exchanges)."""
        ex = lookup(raw) if raw.strip() else self.default_exchange
        if ex is not None:
            if len(cache) < 256:
                cache[raw] = ex
            return ex
        if raw.strip():
            try:
                resolve(raw)
            except InputError as e:
                self.problems.add(e.message, line, "exchange")
        else:
            self.problems.add("empty, and no --exchange was given", line, "exchange")
        return None

    def _value(self, value: str, line: int, column: str, required: bool = True) -> str | None:
        """The canonical form of a key or secret cell, or None after recording why not
        ('' for an empty optional one)."""
        value = canonical(value)
        if not value:
            if required:
                self.problems.add("empty value", line, column)
                return None
            return ""
        if not value.isprintable():
            self.problems.add("contains control characters", line, column)
            return None
        return value

    def _label(self, row: list[str], index: int, line: int) -> str | None:
        label = clean_label(row[index])
        if label is None:
            self.problems.add(f"empty, longer than {MAX_LABEL} characters, or unprintable",
                              line, "label")
        return label

    def _plaintext_chunks(self, hasher: Hasher | None) -> Iterator[list[tuple[object, ...]]]:
        """The hot loop, one pass per row: split, check, canonicalise (only values that are
        not already plain ASCII with clean edges), and with `hasher` hash in place, so
        the plaintext never leaves this loop (a C constructor: no Python frame per value). Rows: (exchange, label, key, secret or None,
        [has_passphrase if the file has the column,] line); key and secret hashed when
        `hasher` is given."""
        col = {c: i for i, c in enumerate(self.header)}
        ie, il, ik = col.get("exchange"), col["label"], col["api_key"]
        isec, ipp = col.get("api_secret"), col.get("passphrase")
        problems, edge = self.problems, EDGE
        cache: dict[str, str] = {}
        width, delimiter, split = len(self.header), self.delimiter, self._split
        line = self._data_line0
        out: list[tuple[object, ...]] = []
        for raw in self.lines:
            line += 1
            if '"' in raw or "\0" in raw:
                first, line, row = split(raw, line)
            else:
                first, row = line, raw.rstrip("\r\n").split(delimiter)
            if len(row) != width:
                if len(row) > 1 or "".join(row).strip():
                    problems.add(f"{len(row)} columns, header has {width}", first)
                continue
            raw_ex = row[ie] if ie is not None else ""
            ex = cache.get(raw_ex) or self._exchange(raw_ex, first, cache)
            label: str | None = row[il].strip()
            if not label or len(label) > MAX_LABEL or not label.isprintable():
                label = self._label(row, il, first)  # records the problem
            key: str | None = row[ik]
            if (not key or not key.isascii() or not key.isprintable() or key[0] in edge
                    or key[-1] in edge):
                key = self._value(key or "", first, "api_key")
                if not key:
                    continue
            secret: str | None = row[isec] if isec is not None else ""
            if secret and (not secret.isascii() or not secret.isprintable()
                           or secret[0] in edge or secret[-1] in edge):
                secret = self._value(secret, first, "api_secret", required=False)
                if secret is None:
                    continue
            if ex is None or not label:
                continue
            k: str | bytes = key
            s: str | bytes | None = secret or None
            if hasher is not None:
                k = hasher(key.encode()).digest()
                s = hasher(secret.encode()).digest() if secret else None
            if ipp is None:
                out.append((ex, label, k, s, first))
            else:
                out.append((ex, label, k, s, bool(canonical(row[ipp])), first))
            if len(out) == CHUNK:
                self._line = first
                yield out
                out = []
        if out:
            yield out

    def _fingerprint_rows(self) -> Iterator[HashedRow]:
        col = {c: i for i, c in enumerate(self.header)}
        ie = col.get("exchange")
        digest_cols = [(c, col[c]) for c in ("key_sha256", "secret_sha256", "key_hmsl",
                                             "secret_hmsl") if c in col]
        ipp = col.get("has_passphrase")
        cache: dict[str, str] = {}
        for line, row in self._records():
            ex = cache.get(row[ie] if ie is not None else "") or self._exchange(
                row[ie] if ie is not None else "", line, cache)
            label = self._label(row, col["label"], line)
            digests: dict[str, bytes | None] = {}
            bad = False
            for name, i in digest_cols:
                text = row[i].strip()
                digests[name] = parse_hex(text) if text else None
                if text and digests[name] is None:
                    self.problems.add("not a fingerprint of 64 hex characters", line, name)
                    bad = True
            if not bad and digests.get("key_sha256") is None and digests.get("key_hmsl") is None:
                self.problems.add("no key fingerprint (key_sha256 or key_hmsl)", line)
                bad = True
            pp = _BOOL.get(row[ipp].strip().lower(), "bad") if ipp is not None else None
            if pp == "bad":
                self.problems.add("expected true/false, yes/no, 1/0 or empty", line,
                                  "has_passphrase")
                bad = True
            if ex is None or label is None or bad:
                continue
            yield (ex, label, digests.get("key_sha256"), digests.get("secret_sha256"),
                   digests.get("key_hmsl"), digests.get("secret_hmsl"), pp, line)

    def _mapping_rows(self) -> Iterator[HashedRow]:
        if not self.default_exchange:
            raise UsageError("a ggshield mapping.txt names no exchange: pass --exchange")
        for line, text in enumerate(itertools.chain([self._first], self.lines),
                                    start=self._first_lineno):
            self._line = line
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            if not _MAPPING_LINE.fullmatch(text):
                self.problems.add("expected 64 hex characters, optionally ':' and a name", line)
                continue
            digest, _, name = text.partition(":")
            if name and bytes.fromhex(digest) in {hmsl(v) for v in {name, name.strip(),
                                                                   canonical(name)} if v}:
                # ggshield's --naming-strategy cleartext: the name is the secret itself.
                self.problems.add(
                    "the name is the secret itself (ggshield --naming-strategy cleartext): "
                    "this file holds plaintext; delete it and fingerprint again with "
                    "-n censored or -n none", line)
                continue
            name = name.strip()
            label = clean_label(name) if name else f"hmsl:{digest[:16]}"
            if label is None:
                self.problems.add(f"name longer than {MAX_LABEL} characters or unprintable",
                                  line)
                continue
            yield (self.default_exchange, label, bytes.fromhex(digest), line)
