"""A plain (non-editable) install carries playbooks/, templates/ and the exposure page
inside the package."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_the_wheel_ships_templates_and_playbooks(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(dist), str(ROOT)],
                   check=True, timeout=300)
    (wheel,) = dist.glob("incident-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "incident/templates/base.html.j2" in names
    assert "incident/playbooks/README.md" in names
    for page in ("index.html", "check.js", "style.css"):  # what serve and publish hand out
        assert f"incident/exposure/static/{page}" in names
    assert not [n for n in names if n.startswith(("tests/", "sample_dumps/", "benchmarks/"))]

    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # No dependencies needed: incident and incident.resources import nothing heavy.
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, timeout=300)
    shown = subprocess.run(
        [str(python), "-c",
         "from incident.resources import resource_dir; import incident; "
         "t = resource_dir('templates'); print(t); print((t / 'base.html.j2').read_text()); "
         "print(sorted(p.name for p in resource_dir('playbooks').iterdir()))"],
        check=True, capture_output=True, text=True, timeout=60, cwd=tmp_path).stdout
    location, rest = shown.split("\n", 1)
    assert location.startswith(str(env_dir)) and location.endswith("incident/templates")
    assert rest.startswith((ROOT / "templates" / "base.html.j2").read_text())
    assert str(sorted(p.name for p in (ROOT / "playbooks").iterdir())) in rest
