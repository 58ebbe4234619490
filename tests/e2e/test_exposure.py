"""The exposure service for real: `incident serve` on 127.0.0.1 answered by ggshield,
by `incident check --server`, and by raw HTTP; `incident publish` served by a plain
static server."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import string
import time
from pathlib import Path

import pytest
import requests

from incident.exposure import crypto
from incident.fingerprint import hmsl
from tests.conftest import run_incident
from tests.servers import ggshield, incident_serve, static_server

ALPHABET = string.ascii_letters + string.digits


def _value() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(64))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A data directory with two dumps: one ingested with --hmsl (three credentials, one
    key of them also in the second dump), one without."""
    root = tmp_path_factory.mktemp("exposure")
    env = {"INCIDENT_HOME": str(root / "home")}
    keys = [_value() for _ in range(4)]
    secrets_ = [_value() for _ in range(4)]
    first = root / "leak-a.csv"
    first.write_text("exchange,api_key,api_secret\n" + "".join(
        f"binance,{k},{s}\n" for k, s in zip(keys[:3], secrets_[:3])))
    second = root / "leak-b.csv"
    second.write_text(f"exchange,api_key,api_secret\nbybit,{keys[0]},{secrets_[3]}\n"
                      f"okx,{keys[3]},{secrets_[2]}\n")
    for args in (["--hmsl", first], [second]):
        result = run_incident("ingest", *map(str, args), env=env)
        assert result.code == 0, result.stderr
    return {"root": root, "env": env, "keys": keys, "secrets": secrets_}


def _post(url: str, body: object) -> requests.Response:
    return requests.post(url, json=body, timeout=10)


def test_ggshield_finds_the_leaked_values_and_only_those(corpus: dict, tmp_path: Path
                                                         ) -> None:
    env = corpus["env"]
    keys, secrets_ = corpus["keys"], corpus["secrets"]
    with incident_serve(env, tmp_path / "serve.log") as served:
        values = tmp_path / "values.txt"  # two leaked (hmsl), one never leaked, and one
        values.write_text(f"{keys[0]}\n{secrets_[1]}\n{_value()}\n{keys[3]}\n")  # in a dump
        result = ggshield("hmsl", "check", str(values), "--json",  # without --hmsl
                          env={"GITGUARDIAN_HMSL_URL": served.url, "HOME": str(tmp_path)})
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout[result.stdout.index("{"):])
        assert report["leaks_count"] == 2, report
        found = {leak["hash"]: leak["count"] for leak in report["leaks"]}
        assert found == {hmsl(keys[0]).hex(): 2, hmsl(secrets_[1]).hex(): 1}
        log = served.output()
    assert "POST /v1/prefixes 200" in log
    for value in (keys[0], secrets_[1], hmsl(keys[0]).hex(), hmsl(secrets_[1]).hex()):
        assert value not in log and value[:20] not in log


def test_the_protocol_answers_hmsl_clients(corpus: dict, tmp_path: Path) -> None:
    keys = corpus["keys"]
    leaked = hmsl(keys[0])
    with incident_serve(corpus["env"], tmp_path / "serve.log") as served:
        answer = _post(served.url + "/v1/prefixes", {"prefixes": [leaked.hex()[:5]]})
        assert answer.status_code == 200
        for header in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
            assert answer.headers[header].isdigit()
        matches = answer.json()["matches"]
        mine = [m for m in matches if m["hint"] == hashlib.sha256(leaked).hexdigest()]
        assert len(mine) == 1
        document = crypto.unseal(mine[0]["payload"], leaked)
        assert document is not None and document["c"] == 2 and document["l"] is None
        assert document["roles"] == ["key"] and document["exchanges"] == ["binance", "bybit"]
        assert [d["name"][-10:] for d in document["dumps"]] == ["leak-a.csv", "leak-b.csv"]
        # the padding: every bucket has the same entries, every payload the same size
        empty = _post(served.url + "/v1/prefixes", {"prefixes": [_free_prefix(leaked)]})
        assert len(empty.json()["matches"]) == len(matches) >= 4
        sizes = {len(base64.b64decode(m["payload"])) for m in
                 matches + empty.json()["matches"]}
        assert sizes == {crypto.NONCE + crypto.PAYLOAD_BLOCK + crypto.TAG}
        assert len(empty.content) == len(answer.content)
        # the dummies do not change between two answers (else they would stand out)
        again = _post(served.url + "/v1/prefixes", {"prefixes": [leaked.hex()[:5]]})
        assert again.json() == answer.json()

        hashes = _post(served.url + "/v1/hashes", {"hashes": [leaked.hex(), "0" * 64]})
        assert hashes.json() == {"secrets": [{"hash": leaked.hex(), "count": 2,
                                              "location": None}]}
        health = requests.get(served.url + "/healthz", timeout=5).json()
        assert health["status"] == "ok" and health["values"] == {"sha256": 8, "hmsl": 6}


def _free_prefix(taken: bytes) -> str:
    return "fffff" if taken.hex()[:5] != "fffff" else "00000"


@pytest.mark.parametrize("body, status, detail", [
    ({"prefixes": ["ABCDE"]}, 422, "prefixes[0]: must be 5 lowercase hex characters"),
    ({"prefixes": ["abcde", "abcd"]}, 422, "prefixes[1]: must be 5 lowercase hex"),
    ({"prefixes": ["abcde", 7]}, 422, "prefixes[1]: must be 5 lowercase hex"),
    ({"prefixes": ["abcde"] * 101}, 422, "at most 100 per request"),
    ({"prefix": ["abcde"]}, 422, "expected a JSON object with a list 'prefixes'"),
    (["abcde"], 422, "expected a JSON object"),
])
def test_bad_requests_get_a_json_error_that_names_the_place(
        corpus: dict, tmp_path: Path, body: object, status: int, detail: str) -> None:
    with incident_serve(corpus["env"], tmp_path / "serve.log") as served:
        answer = _post(served.url + "/v1/prefixes", body)
        assert answer.status_code == status
        assert detail in answer.json()["detail"]
        assert "ABCDE" not in answer.text and "abcd\"" not in answer.text


def test_limits_bodies_and_logs(corpus: dict, tmp_path: Path) -> None:
    leaked = hmsl(corpus["keys"][0]).hex()
    # 8 units: the three refused bodies cost one each (charged before they are read)
    with incident_serve(corpus["env"], tmp_path / "serve.log", "--rate-limit", "8") as served:
        big = requests.post(served.url + "/v1/prefixes", data=b"{" + b" " * 70_000 + b"}",
                            timeout=10)
        assert big.status_code == 413 and "larger than" in big.json()["detail"]
        broken = requests.post(served.url + "/v1/hashes", data=b"{not json", timeout=10)
        assert broken.status_code == 400 and "not JSON" in broken.json()["detail"]
        deep = requests.post(served.url + "/v1/hashes", data=b"[" * 30_000, timeout=10)
        assert deep.status_code == 400 and "nested too deep" in deep.json()["detail"]
        # a full hash where a prefix belongs: refused, and not logged
        wrong = requests.get(f"{served.url}/v1/range/{leaked}", timeout=10)
        assert wrong.status_code == 422
        spent = _post(served.url + "/v1/hashes", {"hashes": [leaked] * 3})
        assert spent.status_code == 200 and spent.headers["RateLimit-Remaining"] == "2"
        _post(served.url + "/v1/prefixes", {"prefixes": ["abcde", "bcdef"]})
        over = _post(served.url + "/v1/prefixes", {"prefixes": ["abcde"]})
        assert over.status_code == 429
        assert over.headers["RateLimit-Remaining"] == "0"
        assert int(over.headers["Retry-After"]) >= 1 and "rate limit" in over.json()["detail"]
        log = served.output()
    assert "GET /v1/range 422" in log and "POST /v1/hashes 200" in log
    assert "Traceback" not in log
    assert "POST /v1/prefixes 429" in log
    assert leaked not in log and leaked[:12] not in log


def test_check_against_the_service_and_a_static_export(corpus: dict, tmp_path: Path
                                                       ) -> None:
    env, keys, secrets_ = corpus["env"], corpus["keys"], corpus["secrets"]
    out = tmp_path / "site"
    published = run_incident("publish", "--json", str(out), env=env)
    assert published.code == 0, published.stderr
    summary = json.loads(published.stdout)
    assert summary["values"] == 8 and summary["buckets"] == len(list(
        (out / "v1" / "range").iterdir()))
    assert (out / "index.html").is_file() and json.loads(
        (out / "manifest.json").read_text())["scheme"] == "sha256"
    again = run_incident("publish", str(out), env=env)
    assert again.code == 2 and "--force" in again.stderr
    assert run_incident("publish", "--force", str(out), env=env).code == 0

    with incident_serve(env, tmp_path / "serve.log") as served, \
            static_server(out, tmp_path / "static.log") as static:
        for url in (served.url, static + "/"):
            exposed = run_incident("check", "--stdin", "--json", "--server", url,
                                   env=env, input=f"{keys[3]}\n{secrets_[2]}\n\n")
            assert exposed.code == 1, exposed.stderr
            report = json.loads(exposed.stdout)
            # the key leaked: the secret is not asked about (two prefixes would point at
            # one record)
            assert (report["components"], report["secret"], report["secret_checked"]) == (
                "key", None, False)
            assert report["key"]["exchanges"] == ["okx"] and report["key"]["roles"] == ["key"]
            assert report["exchange_agrees"] is None  # no --exchange given
            secret_only = run_incident("check", "--stdin", "--json", "--exchange", "kraken",
                                       "--server", url, env=env,
                                       input=f"{_value()}\n{secrets_[2]}\n\n")
            report = json.loads(secret_only.stdout)
            assert secret_only.code == 1 and report["components"] == "secret"
            assert report["secret"]["c"] == 2 and report["secret_checked"]  # both dumps
            assert report["exchange_agrees"] is False  # binance and okx, not kraken
            clean = run_incident("check", "--stdin", "--server", url, env=env,
                                 input=f"{_value()}\n\n\n")
            assert clean.code == 0 and "not found" in clean.stderr
        # one padding key and one corpus: the export's bucket is the service's, byte for byte
        prefix = hashlib.sha256(keys[3].encode()).hexdigest()[:5]
        served_bucket = requests.get(f"{served.url}/v1/range/{prefix}", timeout=10).content
        assert served_bucket == (out / "v1" / "range" / prefix).read_bytes()
        # a URL that is not the service is an error, not "not found"
        for wrong in (served.url + "/index.html", static + "/v1/"):
            miss = run_incident("check", "--stdin", "--server", wrong, env=env,
                                input=f"{keys[3]}\n\n\n")
            assert miss.code == 4 and "not an exposure service" in miss.stderr
        served_log = served.output()
        static_log = (tmp_path / "static.log").read_text()
    for value in (keys[3], secrets_[2]):
        digest = hashlib.sha256(value.encode()).hexdigest()
        assert value not in served_log + static_log and digest not in served_log + static_log
        assert digest[:5] not in served_log  # ours logs no prefix (http.server does)
    assert f"/v1/range/{hashlib.sha256(keys[3].encode()).hexdigest()[:5]}" in static_log
    assert "GET /v1/range 200" in served_log


def test_the_service_picks_up_new_dumps(corpus: dict, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"INCIDENT_HOME": str(home)}
    value = _value()
    with incident_serve(env, tmp_path / "serve.log", "--refresh", "0.2") as served:
        assert requests.get(served.url + "/healthz", timeout=5).json()["dumps"] == 0
        dump = tmp_path / "late.csv"
        dump.write_text(f"api_key,api_secret\n{value},{_value()}\n")
        assert run_incident("ingest", str(dump), env=env).code == 0
        _wait_for(served.url, 1)
        check = run_incident("check", "--stdin", "--server", served.url, env=env,
                             input=f"{value}\n\n\n")
        assert check.code == 1, check.stderr
        # removed, then ingested again: the same ids and counts, yet a new corpus
        before = requests.get(served.url + "/manifest.json", timeout=5).json()
        assert run_incident("dumps", "remove", "1", env=env).code == 0
        _wait_for(served.url, 0)
        assert run_incident("ingest", "--hmsl", str(dump), env=env).code == 0
        _wait_for(served.url, 1)
        assert requests.get(served.url + "/healthz", timeout=5).json()["values"]["hmsl"] == 2
        assert requests.get(served.url + "/manifest.json", timeout=5).json() == before


def _wait_for(url: str, dumps: int) -> None:
    deadline = time.monotonic() + 20
    while requests.get(url + "/healthz", timeout=5).json()["dumps"] != dumps:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_serve_refuses_a_port_in_use(corpus: dict, tmp_path: Path) -> None:
    with incident_serve(corpus["env"], tmp_path / "serve.log") as served:
        port = served.url.rsplit(":", 1)[1]
        second = run_incident("serve", "--port", port, env=corpus["env"], timeout=60)
        assert second.code == 2 and f"cannot listen on 127.0.0.1:{port}" in second.stderr


def test_workers_share_the_port_and_end_with_the_server(corpus: dict, tmp_path: Path
                                                        ) -> None:
    leaked = hmsl(corpus["keys"][0])
    with incident_serve(corpus["env"], tmp_path / "serve.log", "--workers", "2") as served:
        children = _children(served.process.pid)
        assert len(children) == 1
        answers = set()
        for _ in range(30):  # new connections: the kernel hands them to either process
            with requests.Session() as session:
                answer = session.post(served.url + "/v1/prefixes",
                                      json={"prefixes": [leaked.hex()[:5]]}, timeout=10)
                assert answer.status_code == 200
                answers.add(answer.content)
        # byte for byte the same answer from either process, payloads included: else the
        # entries that differ would be the real ones
        assert len(answers) == 1
    for pid in children:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and _state(pid) != "Z":
            assert time.monotonic() < deadline, "a worker outlived the server"
            time.sleep(0.05)


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(corpus: dict,
                                                                 tmp_path: Path) -> None:
    def ask(url: str, forwarded: str) -> int:
        return requests.get(f"{url}/v1/range/abcde", timeout=10,
                            headers={"X-Forwarded-For": forwarded}).status_code

    with incident_serve(corpus["env"], tmp_path / "proxied.log", "--rate-limit", "2",
                        "--trusted-proxy", "127.0.0.1") as served:
        # the proxy appends the address it saw; what comes before it the client may forge
        assert [ask(served.url, f"1.1.1.{i}, 203.0.113.9") for i in range(3)] == [
            200, 200, 429]
        assert ask(served.url, "198.51.100.7") == 200  # another client
        assert ask(served.url, "2001:db8::1") == 200
        assert ask(served.url, "2001:db8::2") == 200  # the same /64 ...
        assert ask(served.url, "2001:db8::3") == 429  # ... is one client
        log = served.output()
    assert "203.0.113.9 GET /v1/range 429" in log and "2001:db8::/64 GET" in log
    with incident_serve(corpus["env"], tmp_path / "direct.log", "--rate-limit", "2") as served:
        # not a trusted proxy: the header is the client's to forge, and is ignored
        assert [ask(served.url, f"203.0.113.{i}") for i in range(3)] == [200, 200, 429]
