"""SqlDump: dumps as mysqldump, pg_dump and sqlite write them, one file per malformed case,
and property tests (random and mutated dumps raise nothing but InputError)."""

from __future__ import annotations

import random
import re
import string
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incident.errors import InputError, Problems
from incident.ingest.formats.sql import SqlDump
from incident.ingest.interface import Member
from tests.unit.ingest.fuzzing import FUZZ, ByteEdit, byte_edits, mutate_bytes, survive

DATA = Path(__file__).resolve().parents[3] / "data" / "ingest" / "sql"
rng = random.Random(4242)
ALNUM = string.ascii_letters + string.digits
K1, S1, K2, S2, K3, S3 = ("".join(rng.choice(ALNUM) for _ in range(64)) for _ in range(6))
PASS = "".join(rng.choice(ALNUM) for _ in range(12))
FMT = SqlDump()

Row = tuple[int, str | None, list[tuple[str, str]]]


def read(payload: str | bytes, name: str = "dump.sql") -> tuple[list[Row], list[str]]:
    data = payload.encode() if isinstance(payload, str) else payload
    problems = Problems(name)
    rows = [(r.position, r.sub, list(r.fields))
            for r in FMT.records(Member.of_bytes(name, data), problems)]
    return rows, [str(p) for p in problems.kept]


MYSQLDUMP = f"""-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
SET NAMES utf8mb4;
DROP TABLE IF EXISTS `api_keys`;
CREATE TABLE `api_keys` (
  `id` int NOT NULL AUTO_INCREMENT,
  `user_id` int DEFAULT NULL,
  `exchange` varchar(32) COLLATE utf8mb4_unicode_ci DEFAULT 'binance',
  `api_key` varchar(128) NOT NULL COMMENT 'the key (public), with a comma',
  `api_secret` text,
  `balance` decimal(10,2),
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_key` (`api_key`),
  KEY `idx_user` (`user_id`),
  CONSTRAINT `fk_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4;
LOCK TABLES `api_keys` WRITE;
/*!40000 ALTER TABLE `api_keys` DISABLE KEYS */;
INSERT INTO `api_keys` VALUES (1,7,'binance','{K1}','{S1}',-1.50),(2,NULL,'okx',_binary '{K2}','it\\'s \\\\ a\\nsecret',now());
# a MySQL comment
UNLOCK TABLES;
"""

PG_DUMP = f"""--
-- PostgreSQL database dump
--
\\restrict Xq1

SET statement_timeout = 0;
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);

CREATE FUNCTION public.audit() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
INSERT INTO public.log VALUES ('not a row; of this dump');
RETURN NEW;
END;
$$;

CREATE TABLE public.keys (
    id integer NOT NULL,
    key text,
    secret character varying(64),
    "Pass Phrase" text
);

COPY public.keys (id, key, secret, "Pass Phrase") FROM stdin;
1\t{K1}\t{S1}\t\\N
2\t{K2}\tback\\\\slash\\ttab\t{PASS}
\\.

INSERT INTO public.keys VALUES (3, '{K3}', 'C:\\dir', E'it\\'s');
INSERT INTO "public"."keys" (id, key) VALUES (4, 'it''s') ON CONFLICT DO NOTHING;
"""

SQLITE = f"""PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE creds(key, secret TEXT, exchange TEXT);
INSERT INTO creds VALUES('{K1}','{S1}','kucoin');
INSERT INTO "creds" VALUES('{K2}','back\\slash',NULL);
COMMIT;
"""

CASES: list[tuple[str, str, list[Row]]] = [
    ("mysqldump", MYSQLDUMP, [
        (19, "table api_keys", [("id", "1"), ("user_id", "7"), ("exchange", "binance"),
                                ("api_key", K1), ("api_secret", S1), ("balance", "-1.50")]),
        (19, "table api_keys", [("id", "2"), ("exchange", "okx"), ("api_key", K2),
                                ("api_secret", "it's \\ a\nsecret"), ("balance", "now()")]),
    ]),
    ("pg_dump", PG_DUMP, [
        (27, "table public.keys", [("id", "1"), ("key", K1), ("secret", S1)]),
        (28, "table public.keys", [("id", "2"), ("key", K2), ("secret", "back\\slash\ttab"),
                                   ("Pass Phrase", PASS)]),
        (31, "table public.keys", [("id", "3"), ("key", K3), ("secret", "C:\\dir"),
                                   ("Pass Phrase", "it's")]),
        (32, "table public.keys", [("id", "4"), ("key", "it's")]),
    ]),
    ("sqlite", SQLITE, [
        (4, "table creds", [("key", K1), ("secret", S1), ("exchange", "kucoin")]),
        (5, "table creds", [("key", K2), ("secret", "back\\slash")]),
    ]),
    ("no CREATE TABLE: columns by position",
     f"INSERT INTO keys VALUES ('{K1}', '{S1}', true, 12.5);\n", [
         (1, "table keys", [("column 1", K1), ("column 2", S1), ("column 3", "true"),
                            ("column 4", "12.5")]),
     ]),
    ("a row a line, IGNORE, ON DUPLICATE KEY UPDATE",
     f"INSERT IGNORE INTO `shop`.`keys` (`k`, `s`) VALUES\n('{K1}', '{S1}'),\n"
     f"('{K2}', '{S2}') ON DUPLICATE KEY UPDATE s=VALUES(s);\n", [
         (2, "table shop.keys", [("k", K1), ("s", S1)]),
         (3, "table shop.keys", [("k", K2), ("s", S2)]),
     ]),
    ("REPLACE INTO, CREATE TABLE learned by its last name part",
     f"CREATE TABLE IF NOT EXISTS keys (a varchar(64), b varchar(64));\n"
     f"REPLACE INTO app.keys VALUES ('{K1}', '{S1}');\n", [
         (2, "table app.keys", [("a", K1), ("b", S1)]),
     ]),
    ("PostgreSQL: unquoted key column, comments, OVERRIDING",
     f"CREATE TABLE t (key varchar(64), secret text, PRIMARY KEY (key));\n"
     f"/* a comment; with a semicolon */ INSERT INTO t (key, secret) OVERRIDING SYSTEM VALUE"
     f" VALUES ('{K1}', -- trailing\n '{S1}');\n", [
         (2, "table t", [("key", K1), ("secret", S1)]),
     ]),
    ("statements read over: INSERT ... SELECT, DEFAULT VALUES, SET",
     "INSERT INTO a SELECT * FROM b;\nINSERT INTO a DEFAULT VALUES;\nSET x = 'y';\n", []),
    ("a row of NULLs is no record", "INSERT INTO t VALUES (NULL, NULL);\n", []),
    ("hex literals of printable text are that text (mysqldump --hex-blob)",
     f"INSERT INTO t VALUES (0x{K1.encode().hex()}, X'{S1.encode().hex()}', 0x1F, X'ff');\n",
     [(1, "table t", [("column 1", K1), ("column 2", S1), ("column 3", "0x1F"),
                      ("column 4", "ff")])]),
]


@pytest.mark.parametrize("payload, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rows_become_records(payload: str, expected: list[Row]) -> None:
    assert read(payload) == (expected, [])


# (data file, the records' positions, the problems: exact messages)
MALFORMED = [
    ("unterminated_string_at_end.sql", [7],
     ["unterminated_string_at_end.sql:7: column 'api_secret': unterminated string"]),
    ("unterminated_string_before_statement.sql", [2, 4],
     ["unterminated_string_before_statement.sql:3: column 'api_key': unterminated string"]),
    ("unterminated_string_before_row.sql", [3, 5],
     ["unterminated_string_before_row.sql:4: column 'api_secret': unterminated string"]),
    ("wrong_value_count.sql", [8, 10],
     ["wrong_value_count.sql:9: 3 values, table users has 5 columns"]),
    ("wrong_value_count_listed.sql", [2],
     ["wrong_value_count_listed.sql:1: 1 value, 2 columns listed for table keys"]),
    ("copy_wrong_column_count.sql", [8, 11],
     ["copy_wrong_column_count.sql:9: 2 values, 3 columns listed for table public.keys",
      "copy_wrong_column_count.sql:10: 4 values, 3 columns listed for table public.keys"]),
    ("unterminated_copy.sql", [2, 3], ["unterminated_copy.sql:1: unterminated COPY data"]),
    ("unterminated_statement.sql", [1, 2],
     ["unterminated_statement.sql:1: unterminated statement"]),
    ("unterminated_row.sql", [1, 2], ["unterminated_row.sql:1: unterminated row"]),
    ("unterminated_comment.sql", [1], ["unterminated_comment.sql:2: unterminated comment"]),
    ("malformed_values_list.sql", [1, 2],
     ["malformed_values_list.sql:1: malformed VALUES list"]),
    ("copy_csv.sql", [4], ["copy_csv.sql:1: COPY data not in text format is not read"]),
]


def secrets_in(data: bytes) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9]{20,}", data.decode("utf-8", "replace")))


@pytest.mark.parametrize("name, positions, messages", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_dump_is_reported_by_place_and_read_on(name: str, positions: list[int],
                                                           messages: list[str]) -> None:
    data = (DATA / name).read_bytes()
    assert FMT.sniff(Member.of_bytes(name, data))
    rows, problems = read(data, name)
    assert ([r[0] for r in rows], problems) == (positions, messages)
    assert all(len(fields) >= 2 for _, _, fields in rows)
    assert not any(s in m for s in secrets_in(data) for m in problems)


def test_binary_input_is_refused_by_place() -> None:
    data = (DATA / "not_text.sql").read_bytes()
    assert not FMT.sniff(Member.of_bytes("not_text.sql", data))
    with pytest.raises(InputError) as caught:
        read(data, "not_text.sql")
    assert str(caught.value) == "not_text.sql: binary data, not text"


@pytest.mark.parametrize("payload, claimed", [
    (MYSQLDUMP, True),
    (PG_DUMP, True),
    (SQLITE, True),
    ("COPY keys (a, b) FROM stdin;\n1\t2\n\\.\n", True),
    ("insert into t values (1);", True),
    ("\ufeffCREATE TABLE t (a int);", True),
    ("-- only a comment\nSELECT 1;\nDROP TABLE t;\n", False),  # no table, no row
    ("COPY keys TO stdout;", False),
    ("Create table for the keys:\nbinance abc def\n", False),
    ("hello; INSERT INTO t VALUES (1);", False),
    ("api_key,api_secret\nINSERT INTO,x\n", False),
    ('{"sql": "INSERT INTO t VALUES (1)"}', False),
    ("", False),
])
def test_sniff_goes_by_statements(payload: str, claimed: bool) -> None:
    assert FMT.sniff(Member.of_bytes("notes.txt", payload.encode())) is claimed
    assert FMT.sniff(Member.of_bytes("dump.sql", payload.encode())) is claimed


def test_sniff_reads_utf16_and_refuses_binary() -> None:
    utf16 = "\ufeffINSERT INTO t VALUES ('a');".encode("utf-16-le")
    assert FMT.sniff(Member.of_bytes("dump.sql", utf16))
    assert read(utf16) == ([(1, "table t", [("column 1", "a")])], [])
    assert not FMT.sniff(Member.of_bytes("dump.sql", b"INSERT INTO t\x00\x00\x01"))


@pytest.mark.parametrize("piece", [
    "/*\n", "'\n", "\\'\n", "INSERT INTO t VALUES (\\'\n", "$$\n", "(" * 50 + "\n",
    "INSERT INTO t VALUES ('a',\n", "COPY t FROM stdin;\n\\N\n",
])
def test_pathological_input_is_read_in_linear_time(piece: str) -> None:
    payload = piece * (300_000 // len(piece))
    started = time.monotonic()
    read(payload)
    assert time.monotonic() - started < 3  # quadratic would take hours


def dump(rows: int) -> bytes:
    r = random.Random(rows)
    key = "".join(r.choice(ALNUM) for _ in range(64))
    values = ",\n".join(f"({i}, '{key[i:]}', 'it''s \\'{i}', NULL, -{i}.5)" for i in range(rows))
    return (f"CREATE TABLE `k` (`id` int, `key` text, `secret` text, `p` text, `n` float);\n"
            f"INSERT INTO `k` VALUES {values};\nCOPY k (id, key) FROM stdin;\n1\t{key}\n"
            f"\\.\n").encode()


def quotes_none_of(data: bytes) -> Callable[[str], bool]:
    """A message is clean if it holds no 12 characters of a long alphanumeric run of data."""
    pieces = {s[i:i + 12] for s in secrets_in(data) for i in range(len(s) - 11)}
    return lambda message: not any(p in message for p in pieces)


def check(data: bytes, clean: Callable[[str], bool] | None = None) -> None:
    survive(FMT, data, name="dump.sql", clean=clean or quotes_none_of(data))


PROPERTY = settings(FUZZ, max_examples=150, derandomize=True)


@PROPERTY
@given(st.binary(max_size=400))
def test_random_bytes_raise_nothing_but_input_error(data: bytes) -> None:
    check(data)


@PROPERTY
@given(st.text(alphabet=st.sampled_from("INSERTINTOVALUESCOPYstdin(),;'\"`\\$-/*#\n\t .E0"),
               max_size=300))
def test_random_sql_like_text_raises_nothing(text: str) -> None:
    check(text.encode())


@PROPERTY
@given(st.integers(1, 6), byte_edits(reach=10_000, most=8))
def test_mutated_dumps_raise_nothing_and_never_quote_a_value(rows: int,
                                                             edits: list[ByteEdit]) -> None:
    check(mutate_bytes(dump(rows), edits), quotes_none_of(dump(rows)))


KEY_NAME = "sk_live_ABCDEFGHIJKLMNOP"  # a table or column named with a key


def test_a_table_named_like_a_key_is_named_by_its_number() -> None:
    dump = (f"CREATE TABLE api_keys (k text, s text);\n"
            f"CREATE TABLE `{KEY_NAME}` (k text, s text);\n"
            f"INSERT INTO `{KEY_NAME}` VALUES ('{K1}', '{S1}');\n"
            f"INSERT INTO `{KEY_NAME}` VALUES ('{K2}');\n"
            f"INSERT INTO \"\x1b[2Jkeys\" (k, s) VALUES ('{K3}');\n"
            f"INSERT INTO api_keys VALUES ('{K2}', '{S2}');\n")
    rows, problems = read(dump)
    assert rows == [(3, "table 2", [("k", K1), ("s", S1)]),
                    (6, "table api_keys", [("k", K2), ("s", S2)])]
    assert problems == ["dump.sql:4: 1 value, table 2 has 2 columns",
                        "dump.sql:5: 1 value, 2 columns listed for table 3"]


def test_a_column_named_like_a_key_is_named_by_its_number() -> None:
    dump = f"CREATE TABLE t (`{KEY_NAME}` text, api_key text);\nINSERT INTO t VALUES ('a', 'b\n"
    _, problems = read(dump)
    assert problems == ["dump.sql:2: column 'api_key': unterminated string"]  # safe: kept
    dump = f"CREATE TABLE t (`{KEY_NAME}` text, api_key text);\nINSERT INTO t VALUES ('a\n"
    _, problems = read(dump)
    assert problems == ["dump.sql:2: column 'column 1': unterminated string"]
