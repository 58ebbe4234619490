"""The hidden prompts of `incident keys add`, typed into a real terminal (a pty)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.conftest import ROOT


def run_with_prompts(args: list[str], answers: list[str], env: dict[str, str],
                     timeout: float = 60) -> tuple[int, str]:
    """Run `python -m incident ARGS` on a pty, answering each prompt in turn; the exit
    code and everything the terminal showed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "incident", *args], stdin=slave,
                            stdout=slave, stderr=slave, cwd=ROOT, close_fds=True,
                            env={**os.environ, **env, "TERM": "dumb"})
    os.close(slave)
    screen, pending, answered_at = b"", list(answers), -1  # where the last answer went
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            # A hidden prompt is waiting while the terminal's echo is off and its text
            # ("...: ") is the last thing shown since the previous answer (getpass turns
            # echo off, then writes the prompt; two prompts in a row may never show echo
            # on between two polls, so the screen, not the echo flag, tells them apart).
            echo = bool(termios.tcgetattr(master)[3] & termios.ECHO)
            fresh = answered_at < 0 or b"\n" in screen[answered_at:]  # a new line since
            if pending and not echo and fresh and screen.rstrip(b" ").endswith(b":"):
                os.write(master, pending.pop(0).encode() + b"\n")
                answered_at = len(screen)
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:  # the other end closed: the process ended
                    break
                if not data:
                    break
                screen += data
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=max(1, deadline - time.monotonic())), screen.decode(
            "utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_prompts_hide_what_is_typed(tmp_path: Path) -> None:
    key, secret = "PromptKey0123456789abcdef", "PromptSecret0123456789abcdef"
    env = {"INCIDENT_HOME": str(tmp_path / "home")}
    code, screen = run_with_prompts(["keys", "add", "--exchange", "okx", "--label", "t"],
                                    [key, secret, "pass"], env)
    assert code == 0, screen
    assert "API key:" in screen and "API secret (Enter if none):" in screen
    assert "Passphrase (Enter if none):" in screen
    assert "registered 't' (okx)" in screen and "passphrase yes" in screen
    assert key[:12] not in screen and secret[:12] not in screen


def test_a_wrong_exchange_is_refused_before_any_prompt(tmp_path: Path) -> None:
    code, screen = run_with_prompts(["keys", "add", "--exchange", "binanse", "--label", "t"],
                                    [], {"INCIDENT_HOME": str(tmp_path / "home")}, timeout=20)
    assert code == 3 and "did you mean binance?" in screen and "API key" not in screen


def test_check_asks_for_no_passphrase_it_would_not_use(tmp_path: Path) -> None:
    key, secret = "PromptKey0123456789abcdef", "PromptSecret0123456789abcdef"
    code, screen = run_with_prompts(["check"], [key, secret],
                                    {"INCIDENT_HOME": str(tmp_path / "home")})
    assert code == 0, screen  # in none of the (no) dumps
    assert "API key:" in screen and "API secret (Enter if none):" in screen
    assert "Passphrase" not in screen
    assert key[:12] not in screen and secret[:12] not in screen
