"""SQL dumps: mysqldump, pg_dump (INSERTs and COPY), sqlite .dump, hand-written INSERTs.

One pass, front to back, over a hand-written tokenizer (each regex only matches a run of
one kind of character at a known place, so reading is linear). CREATE TABLE teaches a
table's column names; each row of INSERT/REPLACE ... VALUES and of COPY ... FROM stdin is
a Record named by those columns (`column 1`, ... when the dump never says).

A string left open is found at the end of the text, or where it runs into a line that
starts a statement as dumps write them (`INSERT INTO `, `CREATE TABLE `, ...) or, in a
VALUES list of a row a line, into the next row: it is reported where it began, and reading
goes on from that line. Messages name the line, the table and the column, never a value;
a table's or column's name only if it is safe to show (naming: a name may be a key or hold
a terminal escape), else its number (`table 3`: the third table the dump names).
"""

from __future__ import annotations

from collections.abc import Iterator

from incident.errors import Problems
from incident.ingest.decode import bom_encoding, decode, looks_binary
from incident.ingest.formats._sqllex import (NAMES, Cut, Item, Lexer, Token, Unterminated,
                                             copy_value)
from incident.ingest.formats.naming import labelled, safe_name
from incident.ingest.interface import Format, Member, Record

_INSERT_WORDS = {"INTO", "IGNORE", "OR", "REPLACE", "LOW_PRIORITY", "DELAYED",
                 "HIGH_PRIORITY", "ROLLBACK", "ABORT", "FAIL"}
_CREATE_WORDS = {"TEMPORARY", "TEMP", "UNLOGGED", "GLOBAL", "LOCAL", "OR", "REPLACE"}
_NOT_COLUMNS = {"PRIMARY", "CONSTRAINT", "FOREIGN", "CHECK", "EXCLUDE", "LIKE", "PERIOD"}
_INDEXES = {"KEY", "INDEX", "UNIQUE", "FULLTEXT", "SPATIAL"}
_TYPES = {"char", "varchar", "nvarchar", "nchar", "character", "text", "tinytext",
          "mediumtext", "longtext", "string", "int", "integer", "bigint", "smallint",
          "tinyint", "mediumint", "serial", "bigserial", "decimal", "numeric", "float",
          "double", "real", "bool", "boolean", "date", "datetime", "timestamp",
          "timestamptz", "time", "blob", "tinyblob", "mediumblob", "longblob", "binary",
          "varbinary", "bytea", "json", "jsonb", "uuid", "enum", "set", "bit", "inet"}
# What a dump's statements begin with, besides the ones read here.
_LEADERS = {"SET", "SELECT", "USE", "DROP", "LOCK", "UNLOCK", "ALTER", "BEGIN", "START",
            "COMMIT", "END", "ROLLBACK", "PRAGMA", "CREATE", "COMMENT", "GRANT", "REVOKE",
            "TRUNCATE", "DELETE", "UPDATE", "DELIMITER", "SAVEPOINT", "RELEASE", "WITH",
            "VACUUM", "ANALYZE", "REINDEX", "REFRESH", "FLUSH", "DO", "INSERT", "REPLACE",
            "COPY"}


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _key(table: str) -> str:
    return table.lower()


def _column(item: Item) -> str | None:
    """The column a CREATE TABLE item defines, None for a key, index or constraint."""
    first = item.first
    if first is None or first.kind not in NAMES:
        return None
    if first.kind != "word":
        return first.value
    word = first.value.upper()
    if word in _NOT_COLUMNS:
        return None
    if word in _INDEXES and item.second is not None and not (
            item.second.kind == "word"
            and item.second.value.lower().rstrip("0123456789") in _TYPES):
        return None
    return first.value


class _Reader:
    def __init__(self, text: str, problems: Problems) -> None:
        self.lex = Lexer(text)
        self.problems = problems
        self.tables: dict[str, list[str]] = {}
        self.numbers: dict[str, int] = {}  # each table's number, in the order first named
        self.labels: dict[str, str] = {}  # how each table is named in messages and subs

    def add(self, reason: str, pos: int, column: str | None = None) -> None:
        self.problems.add(reason, self.lex.line_of(pos), column)

    def label(self, table: str) -> str:
        """`table <name>`, or `table <number>` when the name is not safe to show."""
        if (known := self.labels.get(table)) is None:
            number = self.numbers.setdefault(_key(table), len(self.numbers) + 1)
            known = self.labels[table] = labelled("table", table, number)
        return known

    def statements(self, sniff: bool = False) -> Iterator[Record | bool]:
        """The records; sniffing, True once a statement read here shows (False: not SQL)."""
        lex = self.lex
        while True:
            try:
                lex.skip()
                if lex.pos >= len(lex.text):
                    return
                if lex.text[lex.pos] in ";\\":  # an empty statement; a psql \command
                    lex.pos = lex.pos + 1 if lex.text[lex.pos] == ";" else lex.line_end()
                    continue
                start = lex.pos
                tok = lex.next()
                word = tok.value.upper() if tok.kind == "word" else ""
                if sniff and word not in _LEADERS:
                    yield False
                    return
                if word in ("INSERT", "REPLACE"):
                    yield from self.insert(start, sniff)
                elif word == "CREATE":
                    yield from self.create(start, sniff)
                elif word == "COPY":
                    yield from self.copy(start, sniff)
                else:
                    self.finish(start, self.setting(word))
            except Unterminated as e:
                self.add(e.what, e.start)
                lex.pos = e.resume

    def setting(self, word: str) -> Token:
        """Read SET and PRAGMA, which say how the dump's strings are escaped."""
        tok = self.lex.next()
        if word == "PRAGMA":  # sqlite: standard strings
            self.lex.escapes = False
        elif word == "SET":
            said, last = tok.value.lower() == "standard_conforming_strings", tok
            while tok.kind != "eof" and not tok.is_punct(";"):
                last, tok = tok, self.lex.next()
            if said:
                self.lex.escapes = last.value.lower() not in ("on", "true", "1", "yes")
        return tok

    def finish(self, start: int, tok: Token | None = None) -> None:
        """Skip to the end of the statement that began at `start`."""
        while tok is None or (tok.kind != "eof" and (tok.kind, tok.value) != ("punct", ";")):
            tok = self.lex.next()
        if tok.kind == "eof":
            self.add("unterminated statement", start)

    def name(self, tok: Token) -> str | None:
        """A table's name, schema-qualified as the dump spells it."""
        if tok.kind not in NAMES:
            return None
        parts = [tok.value]
        while self.lex.peek() == ".":
            self.lex.pos += 1
            tok = self.lex.next()
            if tok.kind not in NAMES:
                return None
            parts.append(tok.value)
        return ".".join(parts)

    def columns(self, start: int) -> list[Item] | None:
        """A parenthesised list (its `(` read), or None if the statement ends inside."""
        try:
            return self.lex.group()
        except Cut:
            self.add("unterminated statement", start)
            return None

    def schema(self, table: str, listed: list[str] | None) -> tuple[list[str] | None, str]:
        """The names of a row's values, and how to say how many values it should have."""
        if listed is not None:
            return listed, f"{_plural(len(listed), 'column')} listed for {self.label(table)}"
        names = self.tables.get(_key(table)) or self.tables.get(_key(table.split(".")[-1]))
        if names is None:
            return None, ""
        return names, f"{self.label(table)} has {_plural(len(names), 'column')}"

    def create(self, start: int, sniff: bool) -> Iterator[Record | bool]:
        tok = self.lex.next()
        while tok.kind == "word" and tok.value.upper() in _CREATE_WORDS:
            tok = self.lex.next()
        if not tok.is_word("TABLE"):
            self.finish(start, tok)
            return
        tok = self.lex.next()
        while tok.kind == "word" and tok.value.upper() in ("IF", "NOT", "EXISTS"):
            tok = self.lex.next()
        table = self.name(tok)
        tok = self.lex.next()
        if table is None or not tok.is_punct("("):
            self.finish(start, tok)
            return
        if sniff:
            yield True
        items = self.columns(start)
        if items is None:
            return
        names = [c for c in map(_column, items) if c is not None]
        self.label(table)  # numbered in the order the dump names its tables
        self.tables[_key(table)] = self.tables[_key(table.split(".")[-1])] = names
        self.finish(start)
        return

    def insert(self, start: int, sniff: bool) -> Iterator[Record | bool]:
        lex = self.lex
        tok = lex.next()
        while tok.kind == "word" and tok.value.upper() in _INSERT_WORDS:
            tok = lex.next()
        table = self.name(tok)
        if table is None:
            self.finish(start, tok)
            return
        tok = lex.next()
        if tok.is_word("AS"):  # PostgreSQL: INSERT INTO t AS alias
            lex.next()
            tok = lex.next()
        listed: list[str] | None = None
        if tok.is_punct("("):
            items = self.columns(start)
            if items is None:
                return
            listed = [i.first.value if i.first else "" for i in items]
            tok = lex.next()
        if tok.is_word("OVERRIDING"):  # OVERRIDING SYSTEM VALUE
            lex.next()
            lex.next()
            tok = lex.next()
        if not (tok.is_word("VALUES") or tok.is_word("VALUE")):
            self.finish(start, tok)  # INSERT ... SELECT, SET, DEFAULT VALUES
            return
        if sniff:
            yield True
        names, whose = self.schema(table, listed)
        tok = lex.next()
        while True:
            if not tok.is_punct("("):
                if tok.kind == "eof":
                    self.add("unterminated statement", start)
                    return
                self.add("malformed VALUES list", tok.start)
                self.finish(start, tok)
                return
            row = tok.start
            line = lex.line_of(row)
            try:
                items = lex.group()
            except Unterminated as e:
                field = safe_name(names[e.item], f"column {e.item + 1}") \
                    if names and e.item < len(names) else None
                self.add(e.what, e.start, field)
                lex.pos = e.resume
                if not lex.text.startswith("(", lex.pos):
                    return
                tok = lex.next()
                continue
            except Cut:
                self.add("unterminated row", row)
                return
            record = self.record(table, names, whose, [lex.value(i) for i in items], line)
            if record is not None:
                yield record
            tok = lex.next()
            if tok.is_punct(","):
                tok = lex.next()
            elif tok.is_punct(";"):
                return
            elif tok.kind == "eof":
                self.add("unterminated statement", start)
                return
            elif tok.kind == "word":  # ON DUPLICATE KEY UPDATE, ON CONFLICT, RETURNING, AS
                self.finish(start, tok)
                return
            else:
                self.add("malformed VALUES list", tok.start)
                self.finish(start, tok)
                return

    def record(self, table: str, names: list[str] | None, whose: str,
               values: list[str | None], line: int) -> Record | None:
        if names is not None and len(values) != len(names):
            self.problems.add(f"{_plural(len(values), 'value')}, {whose}", line)
            return None
        if names is None:
            names = [f"column {i}" for i in range(1, len(values) + 1)]
        fields = [(n, v) for n, v in zip(names, values) if v is not None]
        return Record(line, fields, sub=self.label(table)) if fields else None

    def copy(self, start: int, sniff: bool) -> Iterator[Record | bool]:
        lex = self.lex
        table = self.name(lex.next())
        tok = lex.next()
        listed: list[str] | None = None
        if table is not None and tok.is_punct("("):
            items = self.columns(start)
            if items is None:
                return
            listed = [i.first.value if i.first else "" for i in items]
            tok = lex.next()
        if table is None or not tok.is_word("FROM") or not lex.next().is_word("STDIN"):
            self.finish(start, tok)
            return
        if sniff:
            yield True
        csv = False
        while not (tok.kind == "eof" or tok.is_punct(";")):
            csv, tok = csv or tok.is_word("CSV") or tok.is_word("BINARY"), lex.next()
        if tok.kind == "eof":
            self.add("unterminated statement", start)
            return
        names, whose = self.schema(table, listed)
        if csv:
            self.add("COPY data not in text format is not read", start)
        lex.pos = lex.line_end()
        for pos, line, text in lex.copy_lines():
            if text is None:
                self.add("unterminated COPY data", start)
                return
            if not csv:
                values = [copy_value(v) for v in text.split("\t")]
                record = self.record(table, names, whose, values, line)
                if record is not None:
                    yield record


class SqlDump(Format):
    name = "sql"
    unit = "line"

    def sniff(self, member: Member) -> bool:
        head = member.head()
        if looks_binary(head):
            return False
        text = head.decode(bom_encoding(head) or "utf-8", errors="replace")
        reader = _Reader(text, Problems(member.name))
        for said in reader.statements(sniff=True):
            if isinstance(said, bool):
                return said
        return False

    def records(self, member: Member, problems: Problems) -> Iterator[Record]:
        text, _ = decode(member.read_all(), member.name)
        for record in _Reader(text, problems).statements():
            if isinstance(record, Record):
                yield record
