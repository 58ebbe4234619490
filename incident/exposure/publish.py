"""`incident publish OUTDIR`: the sha256 buckets and the page as static files, for any
static host or CDN (the way Pwned Passwords is served).

Layout, the same paths `incident serve` answers, so the page works on both:
    OUTDIR/index.html, check.js, style.css     the page
    OUTDIR/v1/range/<5 hex>                    one bucket (JSON), padded as served
    OUTDIR/manifest.json                       what was published, when, and from what

Only the prefixes that hold a leaked value get a file: 2**20 files of padding would
cost a gigabyte for a corpus of a few hundred thousand values. The page reads a 404 as
an empty bucket. A host that must not reveal, by the status of the answer, whether a
prefix holds anything can pass --every-prefix (every bucket written, dummies only where
nothing leaked).

The export is written into a new folder beside OUTDIR and renamed into place, so a
reader never sees half an export; an existing OUTDIR is replaced only with --force.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from incident.errors import UsageError
from incident.exposure.corpus import PREFIX_BITS, PREFIX_HEX, Corpus
from incident.store.db import utc_now


def _earlier_export(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return Corpus.is_manifest(manifest) and "published_at" in manifest


@dataclass(frozen=True)
class Published:
    path: Path
    buckets: int
    values: int
    pad_to: int


def publish(corpus: Corpus, out: Path, force: bool = False,
            every_prefix: bool = False) -> Published:
    out = out.absolute()
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"{out}: exists and is not a folder")
        if not force:
            raise UsageError(f"{out}: already exists; choose a new folder, or --force to "
                             "replace an earlier export")
        if out.is_symlink() or (any(out.iterdir()) and not _earlier_export(out)):
            raise UsageError(f"{out}: not an earlier export of incident's; not replaced")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for asset in (resources.files("incident.exposure") / "static").iterdir():
            if asset.is_file():
                (work / asset.name).write_bytes(asset.read_bytes())
        folder = work / "v1" / "range"
        folder.mkdir(parents=True)
        index = corpus.indexes["sha256"]
        prefixes = range(1 << PREFIX_BITS) if every_prefix else index.filled()
        for number in prefixes:
            prefix = f"{number:0{PREFIX_HEX}x}"
            matches = corpus.matches_json("sha256", (number,))
            (folder / prefix).write_text(
                f'{{"prefix":"{prefix}","scheme":"sha256","matches":[{matches}]}}')
        manifest = {**corpus.manifest(every_prefix), "buckets": len(prefixes),
                    "published_at": utc_now()[:19] + "Z"}
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        for path in [work, *work.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)  # for a web server to read
        if out.exists():  # two renames: a reader may see no export for that instant
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            try:
                work.rename(out)
            except BaseException:
                old.rename(out)  # the earlier export back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Published(out, len(prefixes), index.values, index.pad_to)
