"""Archives, opened by content at any depth: zip, tar (plain, gz, bz2, xz), and single
gz, bz2 and xz files. Nothing is extracted to disk: members are streams that decompress
as they are read, so no plaintext ever lands in a temporary file.

Guards: depth (an archive in an archive in ...), member count, and each member's expanded
size; a corrupt or truncated archive is an InputError naming the member, whenever the
damage is found (listing it, or reading it). Damage inside an archive spoils only that
part: its siblings are still read (see `expand`).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from incident.errors import InputError, Place
from incident.ingest.interface import Member

MAX_DEPTH = 8
MAX_MEMBERS = 100_000
_DAMAGE = (EOFError, zlib.error, lzma.LZMAError, OSError, zipfile.BadZipFile,
           tarfile.TarError, ValueError, RuntimeError, NotImplementedError)


class _Guarded(io.RawIOBase):
    """A stream that turns a decompressor's errors into InputError naming the member,
    and stops at a size cap (a decompression bomb)."""

    def __init__(self, inner: BinaryIO, name: str, cap: int,
                 closers: tuple[Any, ...] = ()) -> None:
        self.inner, self.name, self.cap, self.closers, self.done = inner, name, cap, closers, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self.inner.read(len(buffer))
        except InputError:
            raise
        except _DAMAGE as e:
            raise InputError(f"corrupt or truncated compressed data ({type(e).__name__})",
                             Place(self.name)) from None
        self.done += len(data)
        if self.done > self.cap:
            raise InputError(f"expands to more than {self.cap >> 20} MiB; not read",
                             Place(self.name))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            for c in (self.inner, *self.closers):
                try:
                    c.close()
                except _DAMAGE:
                    pass
        super().close()


def _stream(opener: Callable[[], Any], name: str, cap: int, *closers: Any) -> BinaryIO:
    try:
        inner = opener()
    except InputError:
        raise
    except _DAMAGE as e:  # an unsupported method, a damaged local header, ...
        raise InputError(f"cannot open this archive member ({type(e).__name__})",
                         Place(name)) from None
    return cast(BinaryIO, io.BufferedReader(_Guarded(inner, name, cap, closers), 1 << 16))


def kind_of(member: Member) -> str | None:
    """zip, tar, gz, bz2 or xz when the member is an archive (an XLSX is not: it is a
    workbook that happens to be a zip)."""
    head = member.head()
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        try:
            with _seekable(member, 1 << 30) as raw, zipfile.ZipFile(raw) as z:
                names = set(z.namelist())
        except _DAMAGE:
            return "zip"  # a damaged zip: opening it reports where
        return None if "xl/workbook.xml" in names else "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gz"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    return None


@dataclass(frozen=True)
class Unreadable:
    """A member inside an archive that could not be read: named, with the reason, so the
    reading goes on with its siblings."""

    name: str
    reason: str


def expand(member: Member, cap: int, depth: int = 0) -> Iterator[Member | Unreadable]:
    """The member itself if it is no archive, else the members inside it, recursively.
    Damage inside an archive is an Unreadable for that part, and its siblings are still
    read; only the outermost archive that cannot be opened at all raises."""
    try:
        kind = kind_of(member)
        if kind is not None and depth >= MAX_DEPTH:
            raise InputError(f"archives nested more than {MAX_DEPTH} deep", Place(member.name))
    except InputError as e:
        if depth == 0:
            raise
        yield Unreadable(member.name, e.message)
        return
    if kind is None:
        yield member
        return
    yielded = False
    try:
        for inner in _members(member, kind, cap):
            if isinstance(inner, Unreadable):
                yield inner
            else:
                for item in expand(inner, cap, depth + 1):
                    yielded = True
                    yield item
    except InputError as e:
        if depth == 0 and not yielded:
            raise
        yield Unreadable(e.place.source if e.place else member.name, e.message)


def _members(member: Member, kind: str, cap: int) -> Iterator[Member | Unreadable]:
    try:
        if kind == "zip":
            yield from _zip(member, cap)
        elif kind == "tar":
            yield from _tar(member, cap)
        else:
            yield _single(member, kind, cap)
    except InputError:
        raise
    except _DAMAGE as e:
        raise InputError(f"corrupt or truncated {kind} archive ({type(e).__name__})",
                         Place(member.name)) from None


def _seekable(member: Member, cap: int) -> BinaryIO:
    """The member as a stream zipfile can seek: itself, or (inside a compressed tar, say)
    its bytes in memory, up to the cap."""
    raw = member.open()
    if raw.seekable():
        return raw
    with raw:
        data = raw.read(cap + 1)
    if len(data) > cap:
        raise InputError(f"larger than {cap >> 20} MiB; not read", Place(member.name))
    return io.BytesIO(data)


def inner_name(outer: str, path: str) -> str:
    """`outer!path`, with control characters in the path (from the archive, so from the
    dump's author) shown as escapes: a name must not drive the terminal it is printed on."""
    if not path.isprintable():
        path = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in path)
    return f"{outer}!{path}"


def _zip(member: Member, cap: int) -> Iterator[Member | Unreadable]:
    """Zip members, opened from one ZipFile kept open while they are read (opening the
    archive again for each member would cost its central directory every time)."""
    with _seekable(member, cap) as raw, zipfile.ZipFile(raw) as z:
        infos = [i for i in z.infolist() if not i.is_dir()]
        if len(infos) > MAX_MEMBERS:
            raise InputError(f"more than {MAX_MEMBERS:,} members", Place(member.name))
        for info in infos:
            name = inner_name(member.name, info.filename)
            if info.flag_bits & 0x1:
                yield Unreadable(name, "encrypted zip member; not read")
                continue
            if info.file_size > cap:
                yield Unreadable(name, f"larger than {cap >> 20} MiB; not read")
                continue

            def opener(info: zipfile.ZipInfo = info, name: str = name) -> BinaryIO:
                return _stream(lambda: z.open(info), name, cap)

            yield Member(name, opener, info.file_size)


def _tar(member: Member, cap: int) -> Iterator[Member | Unreadable]:
    """A tar read once, as a stream (its source may be a decompressor that cannot seek):
    each file's bytes are taken as the stream passes it and handed on in memory, one
    member at a time, before the stream moves on."""
    with member.open() as raw, tarfile.open(fileobj=raw, mode="r|") as t:
        count = 0
        for info in t:
            if not info.isfile():
                continue  # links, devices, folders: nothing to read
            count += 1
            if count > MAX_MEMBERS:
                raise InputError(f"more than {MAX_MEMBERS:,} members", Place(member.name))
            name = inner_name(member.name, info.name)
            if info.size > cap:
                yield Unreadable(name, f"larger than {cap >> 20} MiB; not read")
                continue
            inner = t.extractfile(info)
            if inner is None:
                continue
            try:
                data = inner.read()
            except _DAMAGE as e:
                raise InputError(f"corrupt or truncated tar archive ({type(e).__name__})",
                                 Place(name)) from None
            yield Member.of_bytes(name, data)


_OPEN: dict[str, Callable[[BinaryIO], Any]] = {
    "gz": lambda f: gzip.GzipFile(fileobj=f, mode="rb"),
    "bz2": lambda f: bz2.BZ2File(f, mode="rb"),
    "xz": lambda f: lzma.LZMAFile(f, mode="rb"),
}


_UNSUFFIX = {".tgz": ".tar", ".tbz2": ".tar", ".txz": ".tar", ".gz": "", ".bz2": "",
             ".xz": ""}


def _single(member: Member, kind: str, cap: int) -> Member:
    """The one file inside a gz, bz2 or xz: `dump.csv.gz!dump.csv`."""
    base = member.basename
    for suffix, replacement in _UNSUFFIX.items():
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)] + replacement
            break
    name = inner_name(member.name, base)

    def opener() -> BinaryIO:
        outer = member.open()
        return _stream(lambda: _OPEN[kind](outer), name, cap, outer)

    return Member(name, opener, None)
