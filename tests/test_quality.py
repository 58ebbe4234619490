"""Rules of the codebase that a reviewer would otherwise have to remember."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "incident"


def modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(PACKAGE.rglob("*.py"))]


def imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_cli_imports_typer_and_rich() -> None:
    for path, tree in modules():
        if PACKAGE / "cli" in path.parents:
            continue
        assert not imported(tree) & {"typer", "rich", "click"}, path


def test_the_library_never_prints() -> None:
    for path, tree in modules():
        if PACKAGE / "cli" in path.parents:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("print",
                                                                                  "input"):
                raise AssertionError(f"{path}:{node.lineno}: the library must not print")
            if isinstance(node, ast.Attribute) and node.attr in ("stdout", "stderr"):
                raise AssertionError(f"{path}:{node.lineno}: the library must not write to "
                                     f"sys.{node.attr}")


def test_mypy_strict() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_cli_starts_without_its_heavy_libraries() -> None:
    """numpy, bs4, openpyxl, tweepy, pandas, the exposure service's libraries, ccxt and
    keyring load when a command needs them, not at start-up:
    each costs every command (and the ingest benchmark) a tenth of a second."""
    code = ("import sys, incident.cli; "
            "print(sorted({'numpy', 'bs4', 'openpyxl', 'tweepy', 'pandas', 'fastapi', 'uvicorn', "
            "'cryptography', 'ccxt', 'keyring'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
