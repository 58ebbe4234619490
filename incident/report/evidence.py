"""Evidence bundles: a claim's evidence as one ZIP file anyone can check byte for byte.

    manifest.json      first: a header (format, creation time, tool version, subject), every
                       other file with its SHA-256, size, source, collection time and tool
                       version, and the RFC 9162 Merkle root over the header and those entries
    VERIFY.txt         how to check the bundle by hand (a listed file itself)
    report/..., snapshots/LABEL/TIME/snapshot.json and raw/NNNN.json, audit/*.jsonl, ...

`write_bundle` writes deterministically (the same inputs give the same bytes): entries
sorted by path after manifest.json, every time stamp from `created_at` (never the clock),
mode 0644, Deflate at level 6, no extra fields; atomically (a temporary file renamed into
place, so a killed run leaves nothing at OUT) and private (0600). Paths are POSIX,
relative, without `.`, `..`, empty segments, backslashes, colons or control characters, and
unique even ignoring case (an unzip on macOS or Windows would merge two).

`verify_bundle` names every file altered, added or removed, a manifest that is malformed, a
root that does not hold, each raw response that differs from what its snapshot.json
records, and each audit-log line edited, deleted, inserted or reordered. Messages name files
and hash prefixes, never content. Entries are read 1 MiB at a time, at most 2 GiB each.

    EvidenceError (InputError)   a bundle that cannot be written, or is no ZIP file (exit 3)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sys
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple

from incident.audit import canonical, read_export_lines
from incident.audit import verify as verify_audit
from incident.errors import InputError, Place
from incident.files import atomic_write
from incident.report import merkle

FORMAT = "incident-evidence/1"
MANIFEST = "manifest.json"
VERIFY = "VERIFY.txt"
ALGORITHM = "RFC 9162 SHA-256"
LEAVES = ("leaf 0: canonical JSON of the header (format, created_at, tool, tool_version, "
          "subject); then each files[] entry, in order")
TOOL = "incident"
MAX_ENTRY = 2 << 30      # an entry declaring more is not read (a zip bomb)
MAX_JSON = 256 << 20     # manifest.json, snapshot.json and audit exports are read whole
CHUNK = 1 << 20
LEVEL = 6
MODE = 0o644 << 16
FIELDS = ("path", "sha256", "size", "source", "collected_at", "tool_version")
HEADER = ("format", "created_at", "tool", "tool_version", "subject")  # leaf 0, exactly these
_KEYS = (*HEADER, "files", "merkle")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_AUDIT = re.compile(r"audit/[^/]+\.jsonl")


class EvidenceError(InputError):
    """A bundle that cannot be written (an unsafe path, an unreadable file) or read."""


def path_problem(path: str) -> str | None:
    """What makes `path` no safe name in a bundle, or None."""
    if not path:
        return "empty"
    try:
        if len(path.encode("utf-8")) > 1024:
            return "longer than 1024 bytes"
    except UnicodeEncodeError:
        return "not UTF-8"
    if not path.isprintable():  # a newline, a right-to-left override, a zero-width space
        return "a control or invisible character"
    if "\\" in path:
        return "a backslash"
    if ":" in path:
        return "a colon (a drive or a stream on Windows)"
    if path.startswith("/"):
        return "absolute"
    parts = path.split("/")
    if ".." in parts:
        return "a '..' segment"
    if "." in parts or "" in parts:
        return "an empty or '.' segment"
    return None


def _shown(path: str) -> str:
    """A name fit for one line of a message: escaped where it is not printable."""
    return path if path.isprintable() else ascii(path)


def _utc(value: object, what: str, place: Place | None = None) -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        t = None
    if t is None or t.utcoffset() != dt.timedelta(0):
        raise EvidenceError(f"{what} is not a UTC ISO 8601 time", place)
    return t


@dataclass(frozen=True)
class BundleFile:
    """One file to put in a bundle. `data` is its bytes, or a Path read in 1 MiB pieces;
    `source` says where it came from ("binance GET /api/v3/myTrades", "audit log");
    `tool_version` is the version that collected it (default: the bundle's)."""

    path: str
    data: bytes | Path = field(repr=False)
    source: str
    collected_at: str
    tool_version: str | None = None

    def __post_init__(self) -> None:
        why = path_problem(self.path) if isinstance(self.path, str) else "not a string"
        if why:
            raise EvidenceError(f"unsafe path in a bundle ({why})", Place(_shown(self.path)))
        if not isinstance(self.data, (bytes, Path)):
            raise EvidenceError("data is neither bytes nor a Path", Place(self.path))
        if not isinstance(self.source, str) or not self.source:
            raise EvidenceError("no source", Place(self.path))
        _utc(self.collected_at, "collected_at", Place(self.path))


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int
    source: str
    collected_at: str
    tool_version: str

    def document(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


@dataclass(frozen=True)
class Manifest:
    created_at: str
    tool_version: str
    subject: Mapping[str, str]
    files: tuple[FileEntry, ...]
    root: str  # hex

    def header(self) -> dict[str, Any]:
        """The manifest's header: leaf 0 of its Merkle tree."""
        return _header(self.created_at, self.tool_version, self.subject)

    def document(self) -> dict[str, Any]:
        """What manifest.json holds (as canonical JSON)."""
        return {**self.header(), "files": [f.document() for f in self.files],
                "merkle": {"algorithm": ALGORITHM, "leaves": LEAVES, "root": self.root}}


def _header(created_at: str, tool_version: str, subject: Mapping[str, str]) -> dict[str, Any]:
    """A manifest's header: the HEADER keys, what the bundle is and who it is about."""
    return {"format": FORMAT, "created_at": created_at, "tool": TOOL,
            "tool_version": tool_version, "subject": dict(subject)}


def merkle_root(head: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> str:
    """The hex Merkle root of a manifest, for writing and verifying alike: leaf 0 is the
    canonical JSON of its header (the HEADER keys of `head`, which may be the whole
    manifest), leaf i + 1 that of files[] entry `entries[i]`."""
    leaf0 = canonical({key: head[key] for key in HEADER})
    return merkle.root([leaf0, *(canonical(e) for e in entries)]).hex()


# Writing -------------------------------------------------------------------------------

def write_bundle(out: Path, files: Sequence[BundleFile], *, created_at: str,
                 tool_version: str, subject: Mapping[str, str]) -> Manifest:
    """Write the bundle to `out` (replacing it) and return its manifest; VERIFY.txt is
    added. The same files, times, version and subject give the same bytes."""
    out = Path(out)
    stamp = _utc(created_at, "created_at")
    if not 1980 <= stamp.year <= 2107:
        raise EvidenceError("created_at is outside the years a ZIP file can record")
    if not tool_version or not isinstance(tool_version, str):
        raise EvidenceError("no tool_version")
    for key, value in subject.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise EvidenceError("subject holds a key or value that is not a string")
    seen = {MANIFEST.casefold(): MANIFEST, VERIFY.casefold(): VERIFY}
    for f in files:
        other = seen.get(f.path.casefold())
        if other is not None:
            raise EvidenceError("a name the bundle writes itself" if other in (MANIFEST, VERIFY)
                                else "twice in the bundle" if other == f.path else
                                f"the same name as {_shown(other)}, ignoring case",
                                Place(f.path))
        seen[f.path.casefold()] = f.path
    every = sorted([*files, BundleFile(VERIFY, VERIFY_TEXT.encode(), "incident: how to "
                                       "verify this bundle", created_at, tool_version)],
                   key=lambda f: f.path)
    entries = tuple(_entry(f, tool_version) for f in every)
    manifest = Manifest(created_at, tool_version, dict(subject), entries, merkle_root(
        _header(created_at, tool_version, subject), [e.document() for e in entries]))
    date_time = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)

    def write(fp: IO[bytes]) -> None:
        with zipfile.ZipFile(fp, "w") as zf:
            doc = canonical(manifest.document())
            with zf.open(_info(MANIFEST, len(doc), date_time), "w") as w:
                w.write(doc)
            for f, e in zip(every, entries):
                h = hashlib.sha256()
                with zf.open(_info(e.path, e.size, date_time), "w") as w:
                    for chunk in _chunks(f):
                        h.update(chunk)
                        w.write(chunk)
                if h.hexdigest() != e.sha256:
                    raise EvidenceError("changed while the bundle was being written",
                                        Place(str(f.data)))

    atomic_write(out, write, error=EvidenceError)
    return manifest


def _chunks(f: BundleFile) -> Iterator[bytes]:
    if isinstance(f.data, bytes):
        yield f.data
        return
    try:
        with open(f.data, "rb") as src:
            while chunk := src.read(CHUNK):
                yield chunk
    except OSError as e:
        raise EvidenceError(f"cannot read ({e.strerror})", Place(str(f.data))) from e


def _entry(f: BundleFile, tool_version: str) -> FileEntry:
    h = hashlib.sha256()
    size = 0
    for chunk in _chunks(f):
        h.update(chunk)
        size += len(chunk)
        if size > MAX_ENTRY:
            raise EvidenceError(f"larger than the {MAX_ENTRY} bytes a bundle entry may hold",
                                Place(f.path))
    return FileEntry(f.path, h.hexdigest(), size, f.source, f.collected_at,
                     f.tool_version or tool_version)


def _info(name: str, size: int, date_time: tuple[int, int, int, int, int, int]
          ) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix on every platform: the mode below is a Unix mode
    info.external_attr = MODE
    info.file_size = size   # so zipfile knows up front whether ZIP64 is needed
    if sys.version_info >= (3, 13):
        info.compress_level = LEVEL
    else:
        setattr(info, "_compresslevel", LEVEL)
    return info


# Verifying -----------------------------------------------------------------------------

Kind = Literal["altered", "added", "removed", "manifest", "root", "audit"]


@dataclass(frozen=True)
class Problem:
    path: str      # the file (an audit export's as FILE:LINE); manifest.json for the root
    kind: Kind
    message: str   # what differs: hash prefixes, sizes, field names; never content


@dataclass(frozen=True)
class Verdict:
    ok: bool
    files: int               # files manifest.json lists
    root: str | None         # the Merkle root of its header and entries (None: no readable
                             # manifest)
    problems: tuple[Problem, ...] = ()


class _Digest(NamedTuple):
    sha256: str
    size: int


def verify_bundle(path: Path, expect_root: str | None = None) -> Verdict:
    """Check a bundle: every file against manifest.json, the manifest against its Merkle
    root (and `expect_root`, a root known from elsewhere), raw responses against their
    snapshot.json, audit exports against their hash chain. A file that is no ZIP file (or
    is cut short) is an EvidenceError naming it."""
    name = str(path)
    try:
        with open(path, "rb") as fp:
            try:
                zf = zipfile.ZipFile(fp)
            except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as e:
                fp.seek(0)
                why = ("a ZIP file cut short (no central directory)"
                       if fp.read(4) == b"PK\x03\x04" else "not a ZIP file")
                raise EvidenceError(why, Place(name)) from e
            with zf:
                return _Check(zf).run(expect_root)
    except OSError as e:
        raise EvidenceError(f"cannot read ({e.strerror})", Place(name)) from e


class _Malformed(ValueError):
    pass


class _Check:
    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.problems: list[Problem] = []
        self.entries: dict[str, list[zipfile.ZipInfo]] = {}

    def add(self, path: str, kind: Kind, message: str) -> None:
        problem = Problem(path, kind, message)
        if problem not in self.problems:  # two copies of a name, altered alike
            self.problems.append(problem)

    def named(self, path: str) -> bool:
        return any(p.path == path and p.kind in ("altered", "removed") for p in self.problems)

    def run(self, expect_root: str | None) -> Verdict:
        self.names()
        digests = {n: [self.digest(i) for i in infos] for n, infos in self.entries.items()
                   if n != MANIFEST}
        files, root = self.manifest()
        if files is not None:
            if expect_root is not None and expect_root.lower() != root:
                self.add(MANIFEST, "root", f"Merkle root {root[:12]}.. from its header and "
                                           f"files[] entries, expected "
                                           f"{expect_root.lower()[:12]}..")
            self.files(files, digests)
        for n in sorted(digests):
            if n.startswith("snapshots/") and n.endswith("/snapshot.json"):
                self.snapshot(n, digests)
            elif _AUDIT.fullmatch(n):
                self.audit(n)
        return Verdict(not self.problems, len(files or ()), root if files is not None else
                       None, tuple(self.problems))

    def names(self) -> None:
        """Group entries by name; a name unsafe, twice, or clashing by case is named."""
        folded: dict[str, str] = {}
        for info in self.zf.infolist():
            n = info.filename
            why = path_problem(n)
            if n.endswith("/") and not path_problem(n[:-1]):  # as `zip -r` adds them
                self.add(n, "added", "a directory entry, not in manifest.json")
                continue
            if why:
                self.add(_shown(n), "manifest", f"an unsafe name in the ZIP ({why})")
                continue
            other = folded.setdefault(n.casefold(), n)
            if other != n:
                self.add(n, "manifest", f"differs only in case from {_shown(other)}: "
                                        "unzipped on macOS or Windows, one replaces the other")
            self.entries.setdefault(n, []).append(info)
        for n, infos in self.entries.items():
            if len(infos) > 1:
                self.add(n, "manifest", f"{len(infos)} entries of this name in the ZIP: an "
                                        "unzip tool keeps only one")

    def digest(self, info: zipfile.ZipInfo) -> _Digest | str:
        """The entry's SHA-256 and size, or why it cannot be read."""
        if info.file_size > MAX_ENTRY:
            return f"declares {info.file_size} bytes, over the limit of {MAX_ENTRY}: not read"
        h = hashlib.sha256()
        size = 0
        try:
            for chunk in self.read(info):
                h.update(chunk)
                size += len(chunk)
        except _Malformed as e:
            return str(e)
        return _Digest(h.hexdigest(), size)

    def read(self, info: zipfile.ZipInfo, limit: int = MAX_ENTRY) -> Iterator[bytes]:
        if info.flag_bits & 0x1:
            raise _Malformed("encrypted: not read")
        size = 0
        try:
            with self.zf.open(info) as f:
                while chunk := f.read(CHUNK):
                    size += len(chunk)
                    if size > limit:  # zipfile stops at the declared size; in case not
                        raise _Malformed("longer than it may be: not read further")
                    yield chunk
        except zipfile.BadZipFile as e:
            raise _Malformed("cannot be read: its CRC or header does not match") from e
        except zlib.error as e:
            raise _Malformed("cannot be read: its compressed data is damaged") from e
        except EOFError as e:
            raise _Malformed("cannot be read: its data is cut short") from e
        except NotImplementedError as e:
            raise _Malformed("cannot be read: an unknown compression method") from e

    def json(self, n: str) -> Any:
        """A JSON file of the bundle, parsed strictly (no key twice, no NaN)."""
        info = self.entries[n][-1]
        if info.file_size > MAX_JSON:
            raise _Malformed(f"larger than {MAX_JSON >> 20} MiB")
        data = b"".join(self.read(info, MAX_JSON))
        try:
            return json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys,
                              parse_constant=_no_constant)
        except _Malformed:
            raise
        except ValueError as e:  # UnicodeDecodeError too
            raise _Malformed("not JSON") from e

    def manifest(self) -> tuple[list[dict[str, Any]] | None, str]:
        """manifest.json's files[] and the root its header and files[] hash to (None, "":
        unusable)."""
        if MANIFEST not in self.entries:
            self.add(MANIFEST, "manifest", "no manifest.json in the bundle")
            return None, ""
        try:
            doc = self.json(MANIFEST)
            files = _manifest_files(doc)
            root = merkle_root(doc, files)
        except _Malformed as e:
            self.add(MANIFEST, "manifest", str(e))
            return None, ""
        except UnicodeEncodeError:  # "\ud800": JSON can say it, UTF-8 cannot
            self.add(MANIFEST, "manifest", "a string that is not valid Unicode")
            return None, ""
        stored = doc["merkle"]["root"]
        if stored != root:
            self.add(MANIFEST, "root", f"Merkle root {stored[:12]}.. in manifest, "
                                       f"{root[:12]}.. from its header and files[] entries")
        return files, root

    def files(self, files: list[dict[str, Any]], digests: dict[str, list[_Digest | str]]
              ) -> None:
        listed = {f["path"]: f for f in files}
        for n in sorted(listed.keys() | digests.keys()):
            entry = listed.get(n)
            if entry is None:
                self.add(n, "added", "in the bundle, not in manifest.json")
            elif n not in digests:
                self.add(n, "removed", "in manifest.json, not in the bundle")
            else:
                for got in digests[n]:
                    why = _differs(got, entry["sha256"], entry["size"], "manifest")
                    if why:
                        self.add(n, "altered", why)

    def snapshot(self, n: str, digests: dict[str, list[_Digest | str]]) -> None:
        """Each raw response a snapshot.json lists, against its recorded sha256 and size."""
        base = n.rsplit("/", 1)[0]
        try:
            responses = _responses(self.json(n))
        except _Malformed as e:
            self.add(n, "altered", f"not a snapshot.json: {e}")
            return
        for r in responses:
            raw = f"{base}/{r['file']}"
            if self.named(raw):  # already, against the manifest
                continue
            if raw not in digests:
                self.add(raw, "removed", f"listed in {n}, not in the bundle")
                continue
            for got in digests[raw]:
                why = _differs(got, r["sha256"], r["bytes"], n)
                if why:
                    self.add(raw, "altered", why)

    def audit(self, n: str) -> None:
        """An audit-log export: every line an entry, and the chain whole."""
        info = self.entries[n][-1]
        try:
            if info.file_size > MAX_JSON:
                raise _Malformed(f"larger than {MAX_JSON >> 20} MiB: not checked")
            data = b"".join(self.read(info, MAX_JSON))
        except _Malformed as e:
            self.add(n, "audit", str(e))
            return
        entries, bad = read_export_lines(data, n)
        for b in bad.kept:
            line = b.place.line if b.place else None
            self.add(f"{n}:{line}" if line else n, "audit", f"not an audit entry: {b.message}")
        if bad.total > len(bad.kept):
            self.add(n, "audit", f"... and {bad.total - len(bad.kept)} more lines that are "
                                 "not audit entries")
        if bad:
            return
        for p in verify_audit(entries, lines=True).problems:
            self.add(f"{n}:{p.line}" if p.line else n, "audit", p.message)


def _differs(got: _Digest | str, sha256: str, size: int, where: str) -> str | None:
    if isinstance(got, str):
        return got
    if got.sha256 == sha256 and got.size == size:
        return None
    sizes = f"size {size} in {where}, {got.size} in bundle; " if got.size != size else ""
    return f"{sizes}sha256 {sha256[:12]}.. in {where}, {got.sha256[:12]}.. in bundle"


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Malformed("a key twice in one object")
    return out


def _no_constant(constant: str) -> Any:
    raise _Malformed("NaN or Infinity, which JSON does not have")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _fields(item: Any, wanted: Sequence[str], where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _Malformed(f"{where} is not an object")
    missing = [k for k in wanted if k not in item]
    if missing:
        raise _Malformed(f"{where} has no '{missing[0]}'")
    if item.keys() - set(wanted):
        raise _Malformed(f"{where} has a field manifests do not have")
    return item


def _manifest_files(doc: Any) -> list[dict[str, Any]]:
    """The files[] of a well-formed manifest, or _Malformed naming what is wrong."""
    _fields(doc, _KEYS, "manifest.json")
    if doc["format"] != FORMAT:
        raise _Malformed(f"'format' is not {FORMAT}")
    for key in ("created_at", "tool", "tool_version"):
        if not isinstance(doc[key], str):
            raise _Malformed(f"'{key}' is not a string")
    if not isinstance(doc["subject"], dict) or not all(
            isinstance(v, str) for v in doc["subject"].values()):
        raise _Malformed("'subject' is not an object of strings")
    merkle_ = _fields(doc["merkle"], ("algorithm", "leaves", "root"), "'merkle'")
    if merkle_["algorithm"] != ALGORITHM:
        raise _Malformed(f"'merkle.algorithm' is not {ALGORITHM}")
    if not isinstance(merkle_["root"], str) or not _SHA256.fullmatch(merkle_["root"]):
        raise _Malformed("'merkle.root' is not 64 lowercase hex digits")
    files = doc["files"]
    if not isinstance(files, list):
        raise _Malformed("'files' is not a list")
    for i, f in enumerate(files):
        where = f"files[{i}]"
        _fields(f, FIELDS, where)
        if not isinstance(f["path"], str) or path_problem(f["path"]) or f["path"] in (
                MANIFEST,):
            raise _Malformed(f"{where}.path is not a safe name")
        if not isinstance(f["sha256"], str) or not _SHA256.fullmatch(f["sha256"]):
            raise _Malformed(f"{where}.sha256 is not 64 lowercase hex digits")
        if not _is_int(f["size"]):
            raise _Malformed(f"{where}.size is not a whole number")
        for key in ("source", "collected_at", "tool_version"):
            if not isinstance(f[key], str):
                raise _Malformed(f"{where}.{key} is not a string")
        if i and not files[i - 1]["path"] < f["path"]:
            raise _Malformed(f"{where}: not in path order, or a path twice")
    return files


def _responses(doc: Any) -> list[dict[str, Any]]:
    if not isinstance(doc, dict) or not isinstance(doc.get("responses"), list):
        raise _Malformed("no 'responses' list")
    for i, r in enumerate(doc["responses"]):
        where = f"responses[{i}]"
        if not isinstance(r, dict):
            raise _Malformed(f"{where} is not an object")
        if not isinstance(r.get("file"), str) or path_problem(r["file"]):
            raise _Malformed(f"{where}.file is not a safe relative name")
        if not isinstance(r.get("sha256"), str) or not _SHA256.fullmatch(r["sha256"]):
            raise _Malformed(f"{where}.sha256 is not 64 lowercase hex digits")
        if not _is_int(r.get("bytes")):
            raise _Malformed(f"{where}.bytes is not a whole number")
    return list(doc["responses"])


VERIFY_TEXT = """\
How to check this evidence bundle
=================================

This ZIP file holds evidence files and manifest.json. manifest.json lists every
other file, this one included, with its SHA-256, its size in bytes, where it came
from ("source"), when it was collected (UTC) and the version of the tool that
collected it. Its header says who and what the bundle is about ("subject"),
when it was made ("created_at") and with which version of the tool
("tool_version"). Its format is incident-evidence/1.

1. Every file is the one listed.

   Unzip the bundle into an empty directory. In it, for every entry of
   manifest.json's "files", `sha256sum PATH` must print that entry's "sha256",
   and the file must be "size" bytes long. No listed file may be missing, and
   there may be no file the manifest does not list. With jq:

       jq -r '.files[] | "\\(.sha256)  \\(.path)"' manifest.json | sha256sum -c -

2. The manifest is the one that was published.

   "merkle.root" in manifest.json is the Merkle Tree Hash of RFC 9162
   (Certificate Transparency v2, section 2.1.1), with SHA-256, over the
   manifest's header and then the entries of "files" in their order. It so
   covers who and what the bundle is about ("subject"), when it was made and
   with which version of the tool, as well as every file:

   - leaf 0 is the canonical JSON (RFC 8785: keys sorted, no whitespace,
     UTF-8) of the header: an object of exactly the keys "format",
     "created_at", "tool", "tool_version" and "subject" of manifest.json, e.g.
     {"created_at":"...","format":"incident-evidence/1","subject":{"label":
     "..."},"tool":"incident","tool_version":"..."};
   - leaf i + 1 is the canonical JSON of files[i], e.g. {"collected_at":"...",
     "path":"...","sha256":"...","size":123,"source":"...","tool_version":
     "..."};
   - a leaf is hashed as SHA-256(0x00 || leaf), two nodes as
     SHA-256(0x01 || left || right);
   - a list of n > 1 leaves is split into its first k leaves and the rest, k the
     largest power of two smaller than n.

   Recompute it: paste these lines, as they are, into a shell in the unzipped
   directory (Python 3):

python3 - <<'EOF'
import hashlib, json
m = json.load(open("manifest.json", encoding="utf-8"))
def leaf(e):
    return json.dumps(e, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")
def mth(d):
    if len(d) == 1: return hashlib.sha256(b"\\0" + d[0]).digest()
    k = 1
    while k * 2 < len(d): k *= 2
    return hashlib.sha256(b"\\1" + mth(d[:k]) + mth(d[k:])).digest()
header = {k: m[k] for k in ("format", "created_at", "tool", "tool_version",
                            "subject")}
print(mth([leaf(header)] + [leaf(e) for e in m["files"]]).hex())
print(m["merkle"]["root"])
EOF

   The two must be equal, and equal to the root you were given with the bundle
   (in the claim, a letter, an email): that comparison is what ties this copy to
   the one that was sent.

3. What the files say of each other.

   A snapshots/.../snapshot.json lists the raw exchange responses beside it
   ("responses": "file", "sha256", "bytes"): each raw file must match. An
   audit/*.jsonl file is an export of the tool's audit log: each line's "sha256"
   is the SHA-256 of the canonical JSON of the line without "sha256", and its
   "prev_sha256" is the "sha256" of the line before (64 zeros for the first).

Or, with the incident tool installed, all of the above at once:

    incident evidence verify FILE.zip [--root HEX]

It names every file altered, added or removed, and exits 0 only if all holds.
"""
