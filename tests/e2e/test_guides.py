"""The guides in docs/ show real commands and what they really print: each is run again,
as a reader would run it, and must still print what it shows (scripts/guides.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import guides  # noqa: E402

GUIDES = ["is-my-key-in-a-leak.md", "responding-as-a-platform.md", "building-a-claim.md"]


def test_the_readme_links_every_guide() -> None:
    readme = (ROOT / "README.md").read_text()
    assert sorted(p.name for p in guides.guides()) == sorted(GUIDES)
    for name in GUIDES:
        assert f"](docs/{name})" in readme


@pytest.mark.timeout(700)
@pytest.mark.parametrize("name", GUIDES)
def test_the_guide_still_prints_what_it_shows(name: str) -> None:
    proc = subprocess.run([sys.executable, "scripts/guides.py", "--check", f"docs/{name}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 out of date" in proc.stdout


def test_a_typed_secret_never_reaches_a_guide(tmp_path: Path) -> None:
    guide = tmp_path / "leaky.md"
    text = ("<!-- guide: type=user-0001-binance -->\n```console\n"
            "$ read -rsp 'API key: ' KEY && echo && echo \"the key is $KEY\"\n```\n")
    guide.write_text(text)
    handlers = [signal.getsignal(n) for n in (signal.SIGTERM, signal.SIGHUP)]
    assert guides.main([str(guide)]) == 2
    assert guide.read_text() == text  # nothing written
    # and, called in-process, it leaves this process's signal handlers as they were
    assert [signal.getsignal(n) for n in (signal.SIGTERM, signal.SIGHUP)] == handlers


def test_nor_a_piece_of_one(tmp_path: Path) -> None:
    guide = tmp_path / "piece.md"
    text = ("<!-- guide: type=user-0001-binance -->\n```console\n"
            "$ read -rsp 'API key: ' KEY && echo && echo \"starts ${KEY:0:11}...\"\n```\n")
    guide.write_text(text)
    with pytest.raises(guides.GuideError, match="a piece of a key or secret appears"):
        guides.run_guide(guide)


def test_a_prompt_that_echoes_gets_no_secret(tmp_path: Path) -> None:
    """readline turns the terminal's echo off too, then echoes what it reads itself: the
    runner must not take its prompt for a hidden one."""
    guide = tmp_path / "readline.md"
    guide.write_text("<!-- guide: type=user-0001-binance -->\n```console\n"
                     "$ read -e -t 2 -p 'Your name: ' NAME; echo \"[$NAME]\"\n```\n")
    rewritten, results = guides.run_guide(guide)
    assert "[]" in results[0][1], results[0][1]  # nothing was typed into it


def test_the_screen_is_what_the_terminal_shows_in_the_end() -> None:
    session = guides.Session(home=Path("/nonexistent"), env={}, cwd=Path("/nonexistent/x"))
    raw = (b"reading \x1b[32m12%\x1b[0m\rreading 100%\n\r\x1b[1A\x1b[2K"  # a bar, erased
           b"dump 1: 200 credentials\r\n"
           b"HTTP/1.1 200 OK\r\r\n")  # a CRLF line through a terminal
    assert guides._clean(session, raw) == "dump 1: 200 credentials\nHTTP/1.1 200 OK\n"


def test_only_what_changes_between_runs_is_masked() -> None:
    shown = "run 3 at 2026-11-21T21:53:16Z took 0.4 s; head 4de5646abcd7ad46; 24 rows"
    assert guides.mask(shown) == "run 3 at <time> took <duration>; head <hex>; 24 rows"


def test_a_failing_command_does_not_show_a_typed_secret(tmp_path: Path) -> None:
    guide = tmp_path / "failing.md"
    guide.write_text("<!-- guide: type=user-0001-binance -->\n```console\n"
                     "$ read -rsp 'API key: ' KEY && echo && echo \"$KEY\" && false\n```\n")
    with pytest.raises(guides.GuideError) as failed:
        guides.run_guide(guide)
    assert "exited 1, expected 0" in str(failed.value) and "<secret>" in str(failed.value)
    key = guides.secrets(guides.Session(tmp_path, {}, tmp_path), "user-0001-binance")[0]
    assert key not in str(failed.value)


def test_an_unknown_option_is_named_by_its_line(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    guide = tmp_path / "typo.md"
    guide.write_text("# t\n\n<!-- guide: tpye=user-0001-binance -->\n```console\n$ true\n```\n")
    assert guides.main([str(guide)]) == 2
    assert f"{guide}: line 3: unknown guide option 'tpye'" in capsys.readouterr().err
