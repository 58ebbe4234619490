"""The exposure service's parts: payload crypto and padding, the bucket index, the rate
limiter."""

from __future__ import annotations

import base64
import hashlib
import json
import os

from incident.exposure import crypto
from incident.exposure.corpus import PAD_MIN, PAD_STEP, build_index, prefix_of
from incident.exposure.server import Limits, RateLimiter


def test_a_payload_opens_only_under_its_fingerprint_and_has_one_size() -> None:
    key, other = os.urandom(32), os.urandom(32)
    small = crypto.seal({"c": 1, "l": None}, key)
    large = crypto.seal({"c": 9, "l": {"u": "https://paste.example/raw/x" + "y" * 300}}, key)
    assert len(base64.b64decode(small)) == len(base64.b64decode(large)) == (
        crypto.NONCE + crypto.PAYLOAD_BLOCK + crypto.TAG)
    assert crypto.unseal(small, key) == {"c": 1, "l": None}
    assert crypto.unseal(small, other) is None
    noise = base64.b64encode(os.urandom(len(base64.b64decode(small)))).decode()
    assert crypto.unseal(noise, key) is None
    assert crypto.unseal("not base64!", key) is None
    assert crypto.hint(key) == hashlib.sha256(key).hexdigest()


def test_a_payload_is_what_ggshield_decrypts() -> None:
    """ggshield: AESGCM(key).decrypt(payload[:12], payload[12:], None), then json.loads."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = os.urandom(32)
    raw = base64.b64decode(crypto.seal({"c": 3, "l": {"u": "https://x.example/"}}, key))
    text = AESGCM(key).decrypt(raw[:12], raw[12:], None).decode()
    assert json.loads(text) == {"c": 3, "l": {"u": "https://x.example/"}}


def test_prefixes_are_five_lowercase_hex_characters() -> None:
    assert prefix_of("00000") == 0 and prefix_of("fffff") == (1 << 20) - 1
    for bad in ("ABCDE", "abcd", "abcdef", "abcdg", " abcd", "", "0x123"):
        assert prefix_of(bad) is None


def test_the_index_buckets_values_and_counts_their_sightings() -> None:
    values = [os.urandom(32) for _ in range(300)]
    twin = bytes.fromhex("abcde" + "0" * 59)  # shares its prefix with nobody else below
    rows = [(i + 1, values[i], values[i + 150]) for i in range(150)]
    rows.append((151, values[0], None))  # the key of leak 1 again, in another dump
    rows.append((152, twin, twin))  # one value as key and as secret of one record
    index = build_index("sha256", rows)
    assert index.values == 301 and index.sightings == 303
    run = index.find(values[0])
    assert run is not None and index.rows(run) == ([1, 151], [0, 0])
    run = index.find(twin)
    assert run is not None and index.rows(run) == ([152, 152], [0, 1])
    assert index.find(os.urandom(32)) is None
    for value in values:
        prefix = int.from_bytes(value[:3], "big") >> 4
        assert index.find(value) in index.bucket(prefix)
    sizes = [len(index.bucket(p)) for p in range(1 << 20)]
    assert sum(sizes) == 301
    assert index.pad_to >= max(sizes) and index.pad_to % PAD_STEP == 0 and index.pad_to >= PAD_MIN


def test_an_empty_index() -> None:
    index = build_index("hmsl", [])
    assert index.values == 0 and index.pad_to == PAD_MIN
    assert index.find(os.urandom(32)) is None and len(index.bucket(12345)) == 0


def test_the_rate_limiter_spends_units_per_window() -> None:
    now = [100.0]
    limiter = RateLimiter(Limits(rate=5, window=60), clock=lambda: now[0])
    ok, headers = limiter.take("a", 3)
    assert ok and headers["RateLimit-Remaining"] == "2" and headers["RateLimit-Limit"] == "5"
    assert headers["RateLimit-Reset"] == "60"
    ok, headers = limiter.take("a", 3)  # more than is left: refused, nothing spent
    assert not ok and headers["RateLimit-Remaining"] == "2" and headers["Retry-After"] == "60"
    assert limiter.take("b", 5)[0]  # another client has its own allowance
    now[0] += 30
    ok, headers = limiter.take("a", 2)
    assert ok and headers["RateLimit-Remaining"] == "0" and headers["RateLimit-Reset"] == "30"
    now[0] += 31  # a new window
    ok, headers = limiter.take("a", 5)
    assert ok and headers["RateLimit-Remaining"] == "0"


def test_publish_every_prefix_writes_every_bucket_padded(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """--every-prefix: a file for every prefix, empty ones all dummies, all one size (the
    prefix space cut to 8 bits here: 2**20 files would take minutes)."""
    from pathlib import Path

    from incident.exposure import publish as publishing
    from incident.exposure.corpus import Corpus

    monkeypatch.setattr(publishing, "PREFIX_BITS", 8)
    leaked = bytes.fromhex("000ab" + "1" * 59)  # in bucket 0x000ab
    index = build_index("sha256", [(1, leaked, None)])
    corpus = Corpus(Path("/nonexistent"), {"sha256": index}, b"version", 1, os.urandom(32))
    corpus.document = lambda scheme, run: {"c": 1, "l": None}  # type: ignore[method-assign]
    done = publishing.publish(corpus, tmp_path / "site", every_prefix=True)
    files = sorted((tmp_path / "site" / "v1" / "range").iterdir())
    assert done.buckets == 256 and [f.name for f in files] == [f"{n:05x}" for n in range(256)]
    sizes = {f.stat().st_size for f in files}
    assert len(sizes) == 1  # the same size whatever the bucket holds
    bucket = json.loads((tmp_path / "site" / "v1" / "range" / "000ab").read_text())
    mine = [m for m in bucket["matches"] if m["hint"] == crypto.hint(leaked)]
    assert len(bucket["matches"]) == index.pad_to and len(mine) == 1
    assert crypto.unseal(mine[0]["payload"], leaked) == {"c": 1, "l": None}
    assert json.loads((tmp_path / "site" / "manifest.json").read_text())["every_prefix"]


def test_a_bug_is_a_json_500_and_its_message_is_not_logged(caplog) -> None:  # type: ignore[no-untyped-def]
    """The app on a real uvicorn (a thread, 127.0.0.1), over a corpus that fails."""
    import logging
    import socket
    import threading
    import time

    import requests
    import uvicorn

    from incident.exposure.server import CorpusHolder, create_app

    quoted = "-".join(["a value", "that must not be logged"])  # not in any source line

    class Broken:
        def matches_json(self, scheme: str, prefixes: object) -> str:
            raise ValueError(quoted)

    app = create_app(CorpusHolder(Broken(), 0))  # type: ignore[arg-type]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with caplog.at_level(logging.ERROR, logger="incident.exposure"):
            answer = requests.post(url + "/v1/prefixes", json={"prefixes": ["abcde"]},
                                   timeout=10)
        assert answer.status_code == 500 and answer.json() == {"detail": "internal error"}
        assert "ValueError" in caplog.text and "(message withheld)" in caplog.text
        assert quoted not in caplog.text + answer.text
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_publish_replaces_only_an_earlier_export(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    import pytest

    from incident.errors import UsageError
    from incident.exposure import publish as publishing
    from incident.exposure.corpus import Corpus

    corpus = Corpus(Path("/nonexistent"), {"sha256": build_index("sha256", [])}, b"v", 0,
                    os.urandom(32))
    site = tmp_path / "site"
    publishing.publish(corpus, site)
    (site / "stale.txt").write_text("from the export before")
    with pytest.raises(UsageError, match="--force"):
        publishing.publish(corpus, site)
    publishing.publish(corpus, site, force=True)
    assert not (site / "stale.txt").exists() and (site / "index.html").is_file()
    other = tmp_path / "www"  # someone's web root that happens to have a manifest.json
    other.mkdir()
    (other / "manifest.json").write_text('{"name": "my app"}')
    with pytest.raises(UsageError, match="not an earlier export"):
        publishing.publish(corpus, other, force=True)
    assert (other / "manifest.json").read_text() == '{"name": "my app"}'
    link = tmp_path / "link"
    link.symlink_to(site)
    with pytest.raises(UsageError, match="not an earlier export"):
        publishing.publish(corpus, link, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "site", "www"]


def test_padding_is_capped_whatever_a_dump_crams_into_one_prefix() -> None:
    from incident.exposure.corpus import PAD_MAX

    crammed = [(i, bytes([0xAB, 0xCD, 0xE0 | i % 16]) + os.urandom(29), None)
               for i in range(PAD_MAX + 6)]  # all in the bucket abcde
    index = build_index("sha256", crammed)
    assert index.pad_to == PAD_MAX and index.largest == PAD_MAX + 6
    assert len(index.bucket(0xABCDE)) == PAD_MAX + 6
