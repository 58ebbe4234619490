"""Run the guides in docs/ and write each command's real output into them, or check that
what they show is still what the commands print.

    python scripts/guides.py [--check] [GUIDE.md ...]      (default: every docs/*.md guide)

A guide is Markdown. Every fenced ```console block is run, in order, as a reader would run
it: each `$ ` line (with `\\` continuations) is one command, run by bash in a terminal (a
pseudo-terminal 100 columns wide, colours stripped), from a fresh copy of the reader's
situation: HOME is a new empty directory, the working directory is `~/incident` (the
repository: `sample_dumps/` and `scripts/` are there), `incident`, `python` and `ggshield`
are on PATH. Everything the command printed replaces the lines after it, up to the next
`$ ` line or the end of the block; the directory is shown as `~`.

An HTML comment just before a block (invisible when rendered) says how to run it:

    <!-- guide: exit=1 -->              every command in the block exits 1 (default 0)
    <!-- guide: background -->          each command is a server: started, shown until it
                                        listens on the port it names, stopped at the end
    <!-- guide: type=LABEL -->          answer hidden prompts with LABEL's key, secret and
                                        passphrase, one per prompt: from the sample users
                                        (sample_dumps/registry/platform_users.csv) or the
                                        simulator's accounts file (~/incident/sim-accounts.json)
    <!-- guide: answer=TEXT -->         answer a visible prompt (a confirmation) with TEXT
    <!-- guide: skip -->                shown, never run (an example for the reader's system)

`export NAME=VALUE` and `cd DIR` lines change the environment of the commands after them.
Ports 8000-8099 in a command are the reader's; each is run on a free port of this machine
and shown as the guide's. A value is typed only at a new prompt while the terminal reads a
line with echo off (as getpass asks), so a secret never appears on screen; and before
anything is written the whole guide is searched for any run of 10 characters of any key,
secret or passphrase the run could know (the sample users', the simulator's accounts'):
one found, nothing is written.

--check runs every guide and compares what it shows, with the parts that change from run
to run (times, durations, hashes over times, run-to-run ids) masked, and exits 1 naming
each block that differs. tests/e2e/test_guides.py runs it.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import errno
import fcntl
import json
import os
import pty
import re
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
COLUMNS = 100
OPTIONS = frozenset({"exit", "background", "type", "answer", "skip"})
LEAK_WINDOW = 10  # no run of this many characters of any known secret may be written
COMMAND_TIMEOUT = 300.0
SERVER_TIMEOUT = 60.0

FENCE = re.compile(r"^```console[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
DIRECTIVE = re.compile(r"<!--\s*guide:\s*(.*?)\s*-->\s*\n$")
TERMINAL = re.compile(r"(\x1b\[[0-9;?]*[ -/]*[@-~]"  # CSI: colours, cursor, erase
                      r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, hyperlinks
                      r"|\x1b[()][A-Z0-9]|\x1b[@-Z\\-_0-9=>]"  # charsets, two-byte escapes
                      r"|\r|\n|\t)")
DOC_PORT = re.compile(r"(?<=[:= ])(80\d\d)\b")

# What changes from run to run, masked by --check (both sides).
_YEAR = time.gmtime().tm_year
_NOW = "(?:" + "|".join(str(y) for y in range(_YEAR - 1, _YEAR + 2)) + ")"
VOLATILE = [
    # times of the run itself (a replayed attack's 2022 dates are compared as they are)
    (re.compile(rf"{_NOW}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?"),
     "<time>"),
    (re.compile(rf"\b{_NOW}\d{{4}}T\d{{6,12}}Z\b"), "<stamp>"),  # a snapshot's folder
    (re.compile(r"\b\d+:\d\d:\d\d\b"), "<elapsed>"),
    (re.compile(r"\b\d+ credits left"), "<n> credits left"),  # ggshield: the rate limit
    (re.compile(r"\b[0-9a-f]{12,64}\b"), "<hex>"),
    (re.compile(r"\b\d+(\.\d+)?\s?(ms|s|seconds?|minutes?)\b"), "<duration>"),
    (re.compile(r"\b\d+(\.\d+)? ?(B|KiB|MiB|kB|MB|bytes)\b"), "<size>"),
]


@dataclass
class Block:
    start: int  # offsets of the block's body in the guide's text
    end: int
    body: str
    options: dict[str, str]


@dataclass
class Command:
    text: str  # as shown, continuation lines included
    output: str  # as shown


@dataclass
class Session:
    """One guide's run: the reader's home, environment, servers and ports."""

    home: Path
    env: dict[str, str]
    cwd: Path
    ports: dict[str, int] = field(default_factory=dict)  # the guide's port -> this run's
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    typed: set[str] = field(default_factory=set)

    @classmethod
    def start(cls) -> Session:
        home = Path(tempfile.mkdtemp(prefix="guide-"))
        repo = home / "incident"
        repo.mkdir()
        for name in ("sample_dumps", "scripts"):
            os.symlink(ROOT / name, repo / name)
        path = [str(ROOT / ".venv" / "bin"), str(ROOT / ".venv-ggshield" / "bin"),
                "/usr/local/bin", "/usr/bin", "/bin"]
        env = {"HOME": str(home), "PATH": os.pathsep.join(path), "LANG": "C.UTF-8",
               "TERM": "xterm", "COLUMNS": str(COLUMNS), "LINES": "50", "USER": "reader",
               "LOGNAME": "reader", "TZ": "UTC", "PYTHONDONTWRITEBYTECODE": "1"}
        return cls(home, env, repo)

    def port(self, doc: str) -> int:
        while doc not in self.ports:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in self.ports.values():
                self.ports[doc] = port
        return self.ports[doc]

    def to_run(self, command: str) -> str:
        return DOC_PORT.sub(lambda m: str(self.port(m.group(1))), command)

    def to_show(self, output: str) -> str:
        for doc, real in self.ports.items():
            output = re.sub(rf"(?<=[:= ]){real}\b", doc, output)
        for path in {str(self.home.resolve()), str(self.home)}:
            output = output.replace(path, "~")
        return output.replace(str(ROOT), "~/incident")  # a sample file's path, resolved

    def accounts(self) -> dict[str, list[str]]:
        """Every label whose key this run could know, with [key, secret, passphrase]: the
        sample users', then the simulator's accounts' (once it has written its file)."""
        found = {}
        with open(ROOT / "sample_dumps" / "registry" / "platform_users.csv", newline="") as f:
            for row in csv.DictReader(f):
                found[row["label"]] = [row["api_key"], row.get("api_secret") or "",
                                       row.get("passphrase") or ""]
        accounts = self.home / "incident" / "sim-accounts.json"
        if accounts.exists():
            for a in json.loads(accounts.read_text())["accounts"]:
                found.setdefault(a["label"], [a["api_key"], a["api_secret"],
                                              a.get("passphrase") or ""])
        return found

    def secrets(self) -> set[str]:
        """Every key, secret and passphrase this run could know, long enough to look for."""
        return {v for values in self.accounts().values() for v in values
                if len(v) >= LEAK_WINDOW}

    def stop(self) -> None:
        for proc in self.servers:
            with _suppress_gone():
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.servers:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with _suppress_gone():
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(self.home, ignore_errors=True)


class _suppress_gone:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, value: object, tb: object) -> bool:
        return isinstance(value, ProcessLookupError)


class GuideError(Exception):
    pass


def blocks(text: str) -> list[Block]:
    found = []
    for m in FENCE.finditer(text):
        before = text[:m.start()]
        options: dict[str, str] = {}
        directive = DIRECTIVE.search(before)
        if directive:
            for word in shlex.split(directive.group(1)):
                name, _, value = word.partition("=")
                if name not in OPTIONS:  # a typo would leave a prompt unanswered, or worse
                    line = before.count("\n")
                    raise GuideError(f"line {line}: unknown guide option {name!r} (known: "
                                     f"{', '.join(sorted(OPTIONS))})")
                options[name] = value
        found.append(Block(m.start(1), m.end(1), m.group(1), options))
    return found


def commands(body: str) -> list[Command]:
    found: list[Command] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            if found:
                found[-1].output += lines[i] + "\n"
            i += 1
            continue
        text = lines[i]
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text += "\n" + lines[i]
        found.append(Command(text, ""))
        i += 1
    return found


def secrets(session: Session, label: str) -> list[str]:
    """The values to type for LABEL: key, secret, passphrase."""
    try:
        return session.accounts()[label]
    except KeyError:
        raise GuideError(f"type={label}: no such sample user or simulator account") from None


def run(session: Session, command: Command, options: dict[str, str]) -> str:
    shown = command.text[2:].replace("\\\n", " ")
    words = shlex.split(shown)
    if words and words[0] == "export":
        for word in words[1:]:
            name, _, value = word.partition("=")
            session.env[name] = session.to_run(value).replace("~", str(session.home))
        return ""
    if words and words[0] == "cd":
        where = words[1] if len(words) > 1 else "~"
        session.cwd = Path(os.path.normpath(
            session.cwd / re.sub(r"^~(?=/|$)", str(session.home), where)))
        return ""
    if "background" in options:
        ports = [session.port(p) for p in DOC_PORT.findall(shown)]
        return _serve(session, session.to_run(shown), ports)
    answers = secrets(session, options["type"]) if "type" in options else []
    session.typed.update(a for a in answers if a)
    visible = [options["answer"]] if "answer" in options else []
    output, code = _terminal(session, session.to_run(shown), answers, visible)
    expected = int(options.get("exit", "0"))
    if code != expected:
        raise GuideError(f"`{shown}` exited {code}, expected {expected}:\n"
                         + _redact(session, output))
    return output


def _terminal(session: Session, command: str, hidden: list[str],
              visible: list[str]) -> tuple[str, int]:
    """Run COMMAND in a pseudo-terminal. A hidden value is typed only at a new prompt (new
    output since the last answer, ending in ':') while the terminal is in line mode with
    echo off, as getpass leaves it (readline turns echo off too, but leaves line mode, and
    echoes what it reads itself); a visible answer only at a new prompt with echo on."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, COLUMNS, 0, 0))
    proc = subprocess.Popen(["bash", "-c", command], stdin=slave, stdout=slave, stderr=slave,
                            cwd=session.cwd, env=session.env, start_new_session=True,
                            preexec_fn=_die_with_parent)
    os.close(slave)  # the child's now: its end closing ends the reading below
    screen, answered_at = b"", 0
    hidden, visible = list(hidden), list(visible)
    deadline = time.monotonic() + COMMAND_TIMEOUT
    quiet_since = time.monotonic()
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError as e:  # EIO: every process holding the terminal is gone
                    if e.errno != errno.EIO:
                        raise
                    data = b""
                if not data:
                    break
                screen += data
                quiet_since = time.monotonic()
                continue
            now = time.monotonic()
            if now > deadline:
                raise GuideError(f"`{command}` did not end within {COMMAND_TIMEOUT:.0f} s")
            if proc.poll() is not None and now - quiet_since > 2:
                break  # ended, but something it started holds the terminal
            prompt = screen.rstrip(b" ")
            if now - quiet_since < 0.3 or len(screen) <= answered_at or proc.poll() is not None:
                continue
            lflag = termios.tcgetattr(master)[3]
            line_mode, echo = bool(lflag & termios.ICANON), bool(lflag & termios.ECHO)
            if hidden and line_mode and not echo and prompt.endswith(b":"):
                os.write(master, hidden.pop(0).encode() + b"\n")
                answered_at = len(screen)
            elif visible and line_mode and echo and prompt.endswith((b":", b"]", b"?")):
                os.write(master, visible.pop(0).encode() + b"\n")
                answered_at = len(screen)
        proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            with _suppress_gone():
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return _clean(session, screen), proc.returncode


def _die_with_parent() -> None:
    """In the child: SIGTERM when the runner dies, however it dies (Linux)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _serve(session: Session, command: str, ports: list[int]) -> str:
    """Start a server; return what it printed by the time it listens on its ports."""
    if not ports:
        raise GuideError(f"background `{command}` names no port (8000-8099)")
    log = session.home / f".server-{len(session.servers)}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", "-c", f"exec {command}"], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=session.cwd, env={**session.env, "PYTHONUNBUFFERED": "1"},
                                start_new_session=True, preexec_fn=_die_with_parent)
    session.servers.append(proc)
    deadline = time.monotonic() + SERVER_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise GuideError(f"`{command}` stopped (exit {proc.returncode}):\n"
                             + _redact(session, _clean(session, log.read_bytes())))
        if all(_listening(port) for port in ports):
            break
        if time.monotonic() > deadline:
            raise GuideError(f"`{command}` did not listen within {SERVER_TIMEOUT:.0f} s")
        time.sleep(0.1)
    time.sleep(0.5)  # let it finish its first lines
    return _clean(session, log.read_bytes())


def _redact(session: Session, text: str) -> str:
    """An error's output, with every known secret blotted out, and any line holding a piece
    of one."""
    known = session.secrets() | session.typed
    for value in known:
        text = text.replace(value, "<secret>")
    pieces = _pieces(known)
    return "\n".join("<a line holding part of a secret>" if _shows_a_piece(line, pieces)
                     else line for line in text.split("\n"))


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _clean(session: Session, raw: bytes) -> str:
    """What the terminal shows once the command is done: a tiny terminal that knows
    carriage return, cursor up and erase line (a progress bar redraws and erases itself);
    other escapes (colours) are dropped."""
    lines, row, col = [""], 0, 0
    for token in TERMINAL.split(raw.decode("utf-8", "replace")):
        if not token:
            continue
        if token == "\n":
            row, col = row + 1, 0
            if row == len(lines):
                lines.append("")
        elif token == "\r":
            col = 0
        elif token == "\t":
            col = (col // 8 + 1) * 8
            lines[row] = lines[row].ljust(col)
        elif token.startswith("\x1b"):
            up = re.fullmatch(r"\x1b\[(\d*)A", token)
            if up:
                row = max(0, row - int(up.group(1) or 1))
            elif token == "\x1b[2K":
                lines[row] = ""
            elif token in ("\x1b[K", "\x1b[0K"):
                lines[row] = lines[row][:col]
        else:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + token + line[col + len(token):]
            col += len(token)
    text = "\n".join(line.rstrip() for line in lines).strip("\n")
    return session.to_show(text) + "\n" if text else ""


def run_guide(path: Path) -> tuple[str, list[tuple[Command, str]]]:
    """The guide with every output as printed now, and each (command, new output)."""
    text = path.read_text()
    session = Session.start()
    results: list[tuple[Command, str]] = []
    pieces: list[str] = []
    at = 0
    try:
        for block in blocks(text):
            body = []
            for command in commands(block.body):
                if "skip" in block.options:
                    output = command.output
                else:
                    output = run(session, command, block.options)
                results.append((command, output))
                body.append(command.text + "\n" + output)
            pieces += [text[at:block.start], "".join(body)]
            at = block.end
        pieces.append(text[at:])
    finally:
        known = session.secrets() | session.typed
        session.stop()
    rewritten = "".join(pieces)
    if _shows_a_piece(rewritten, _pieces(known)):
        raise GuideError(f"{path.name}: a piece of a key or secret appears in the output; "
                         "nothing written")
    return rewritten, results


def _pieces(secrets: set[str]) -> set[str]:
    """Every run of LEAK_WINDOW characters of every one of SECRETS."""
    return {v[i:i + LEAK_WINDOW] for v in secrets for i in range(len(v) - LEAK_WINDOW + 1)}


def _shows_a_piece(text: str, pieces: set[str]) -> bool:
    """Whether TEXT holds one of PIECES: so a whole secret, a prefix or suffix (a censored
    one), a piece cut by a table or a line wrap all count."""
    flat = text.replace("\n", "")  # a value wrapped over two lines
    return any(t[i:i + LEAK_WINDOW] in pieces for t in (text, flat)
               for i in range(len(t) - LEAK_WINDOW + 1))


def mask(text: str) -> str:
    for pattern, placeholder in VOLATILE:
        text = pattern.sub(placeholder, text)
    return text


def guides() -> list[Path]:
    return sorted(p for p in DOCS.glob("*.md") if FENCE.search(p.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--check", action="store_true",
                        help="compare instead of writing; exit 1 if a guide is out of date")
    parser.add_argument("guides", nargs="*", type=Path)
    args = parser.parse_args(argv)
    # Killed, it still stops its servers and removes its home; called in-process (the
    # tests), it leaves the caller's handlers as they were.
    before = {n: signal.signal(n, lambda n, _: sys.exit(128 + n))
              for n in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _main(args)
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def _main(args: argparse.Namespace) -> int:
    stale = 0
    for path in args.guides or guides():
        started = time.monotonic()
        try:
            rewritten, results = run_guide(path)
        except GuideError as e:
            print(f"{path}: {e}", file=sys.stderr)
            return 2
        took = time.monotonic() - started
        if not args.check:
            path.write_text(rewritten)
            print(f"{path}: {len(results)} commands run in {took:.0f} s, written")
            continue
        differ = [(c, new) for c, new in results if mask(c.output) != mask(new)]
        for command, new in differ:
            stale += 1
            print(f"{path}: `{command.text[2:]}` prints something else now:", file=sys.stderr)
            sys.stderr.writelines(difflib.unified_diff(
                mask(command.output).splitlines(True), mask(new).splitlines(True),
                "in the guide", "now"))
        print(f"{path}: {len(results)} commands run in {took:.0f} s, "
              f"{len(differ)} out of date")
    if stale:
        print("run `.venv/bin/python scripts/guides.py` to rewrite them, and read the diff",
              file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
