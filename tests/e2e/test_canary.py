"""Non-negotiable 1: seed unique secrets, run every command, search everything written.

Every command runs as a real process (tracebacks, progress and all) with its data
directory and TMPDIR under watch; every byte it printed is recorded. Later commands join
`test_every_command_leaves_no_plaintext`.
"""

from __future__ import annotations

import os
from pathlib import Path

from incident.fingerprint import hmsl
from tests.canary import Canary
from tests.conftest import run_incident
from tests.e2e.test_prompt import run_with_prompts


def test_every_command_leaves_no_plaintext(canary: Canary, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"  # the test's own files hold the secrets: not watched
    inputs.mkdir()
    home = canary.watch(tmp_path / "home")
    tmp = canary.watch(tmp_path / "tmp")
    tmp.mkdir()
    env = {"INCIDENT_HOME": str(home), "TMPDIR": str(tmp)}
    s = canary.secrets

    def incident(*args: object, input: str | None = None, expect: int = 0) -> None:
        result = run_incident(*map(str, args), env=env, input=input)
        canary.record(f"incident {' '.join(map(str, args))}", result.stdout + result.stderr)
        assert result.code == expect, (args, result.stderr)

    def write(name: str, text: str) -> Path:
        path = inputs / name
        path.write_text(text)
        return path

    # Registered from standard input and from hidden prompts (a real terminal).
    incident("keys", "add", "--exchange", "okx", "--label", "stdin-key", "--stdin",
             input=f"{s[0]}\n{s[1]}\n{s[2]}\n")
    code, screen = run_with_prompts(["keys", "add", "--exchange", "binance", "--label",
                                     "typed-key"], [s[3], s[4], ""], env)
    canary.record("incident keys add (prompts)", screen)
    assert code == 0, screen

    # Plaintext files, with and without hmsl.
    good = write("good.csv", f"exchange,label,api_key,api_secret,passphrase\n"
                             f"kucoin,file-key,{s[5]},{s[6]},{s[7]}\n")
    incident("keys", "import", good)
    incident("keys", "import", "--json", good)  # again: unchanged
    incident("keys", "remove", "file-key")
    incident("keys", "import", "--hmsl", good)

    # Bad files whose bad rows carry secrets: every message names places, never values.
    bad = {
        "ragged.csv": f"exchange,label,api_key,api_secret\nbinance,r,{s[0]}\n",
        "shifted.csv": f"exchange,label,api_key,api_secret\n{s[1]},x,{s[2]},{s[3]}\n",
        "no-label.csv": f"exchange,label,api_key,api_secret\nbinance,,{s[4]},{s[5]}\n",
        "clash.csv": f"exchange,label,api_key\nbinance,again,{s[0]}\nbinance,again2,{s[0]}\n",
        "control.csv": f"exchange,label,api_key,api_secret\nbinance,c,{s[6]}\x01,{s[7]}\n",
        "quoted.csv": f'exchange,label,api_key\nbinance,q,"{s[1]}\n',
        # a header whose newline is missing runs into the first row
        "run-on.csv": f"exchange,label,api_key,api_secret,passphraseokx,m,{s[2]},{s[3]},"
                      f"{s[4]}\n",
        "mixed.csv": f"exchange,label,api_key\n{s[5][:20]},m,{s[6]}\n",
    }
    for name, text in bad.items():
        incident("keys", "import", write(name, text), expect=3)
        incident("--debug", "keys", "import", inputs / name, expect=3)
    mapping = write("mapping.txt", f"{hmsl(s[2]).hex()}:{s[2]}\n"  # -n cleartext
                    f'{hmsl(chr(34) + s[3] + chr(34)).hex()}:"{s[3]}"\n')  # ggshield keeps quotes
    incident("keys", "import", "--exchange", "binance", mapping, expect=3)
    # a key pasted on the command line by mistake
    incident("keys", "add", "--exchange", "okx", "--label", "p", s[4], expect=2)
    incident("keys", "add", "--exchange", "okx", "--label", "p", f"--{s[5]}", expect=2)
    incident("keys", "list", "--limit", s[6], expect=2)
    incident("keys", "add", "--exchange", "binanse", "--label", "z", "--stdin",
             input=f"{s[0]}\n", expect=3)
    incident("keys", "add", "--exchange", "okx", "--label", "dup", "--stdin",
             input=f"{s[0]}\n", expect=3)  # already registered as stdin-key
    incident("keys", "import", inputs, expect=3)  # a directory

    incident("keys", "list")
    incident("keys", "list", "--json")
    incident("--debug", "keys", "remove", "stdin-key", "nobody", expect=3)
    incident("keys", "remove", "stdin-key", "typed-key")

    assert (home / "incident.db").exists() and os.listdir(tmp) == []
    # the fixture's teardown searches home, tmp and every recorded output


def test_the_canary_finds_what_is_written(tmp_path: Path) -> None:
    c = Canary(count=2)
    watched = c.watch(tmp_path)
    (watched / "a.log").write_text(f"prefix {c.secrets[1][20:33]} suffix")
    (watched / "b.db-wal").write_bytes(c.secrets[0][-12:].encode("utf-16-le"))
    c.record("stderr", f"error: {c.secrets[0][5:17]}")
    found = c.findings()
    assert len(found) == 3 and any("a.log" in f for f in found)
    assert any("b.db-wal" in f for f in found) and any("stderr" in f for f in found)
    c2 = Canary(count=1)
    c2.record("stdout", c2.secrets[0][:11])  # 11 characters: below the piece length
    assert c2.findings() == []
