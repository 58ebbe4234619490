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


PIPX_INCIDENT = ROOT / ".pipx" / "bin" / "incident"


@pytest.mark.slow
def test_pipx_install_gives_a_working_incident(tmp_path: Path) -> None:
    """`make test` runs `pipx install .` into .pipx/ (as a user would, into its own venv);
    the `incident` it puts on PATH does the main job from any directory."""
    assert PIPX_INCIDENT.exists(), "no .pipx/bin/incident: `make test` (or `make pipx`) installs it"
    env = {"PATH": f"{PIPX_INCIDENT.parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "INCIDENT_HOME": str(tmp_path / "data"), "LANG": "C.UTF-8"}

    def incident(*args: str, code: int = 0) -> str:
        proc = subprocess.run(["incident", *args], cwd=tmp_path, env=env, text=True,
                              capture_output=True, timeout=300)
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        return proc.stdout + proc.stderr

    import incident as source
    assert incident("--version").strip() == f"incident {source.__version__}"
    installed = subprocess.run(
        [str(ROOT / ".pipx" / "venvs" / "incident" / "bin" / "python"), "-c",
         "import incident; print(incident.__file__)"], cwd=tmp_path, capture_output=True,
        text=True, check=True, timeout=60).stdout
    assert installed.startswith(str(ROOT / ".pipx" / "venvs" / "incident")), installed

    samples = ROOT / "sample_dumps"
    assert "200 credentials" in incident("ingest", str(samples / "dumps" / "3commas_2022"))
    incident("keys", "import", str(samples / "registry" / "platform_users.csv"))
    assert "user-0001-binance" in incident("match", code=1)
    assert "3commas-2022" in incident("playbook", "list")  # the playbooks travel with it
    incident("report", "exposure", "--out", "reports", "--format", "html,md,pdf")
    html = (tmp_path / "reports" / "exposure.html").read_text()
    assert "user-0001-binance" in html  # the templates travel with it
    assert (tmp_path / "reports" / "exposure.pdf").read_bytes().startswith(b"%PDF-")
    incident("publish", "site")  # and the exposure page
    assert {"index.html", "check.js", "style.css"} <= {p.name for p in
                                                       (tmp_path / "site").iterdir()}
