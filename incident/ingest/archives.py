"""Archives, opened by content at any depth: zip, tar (plain, gz, bz2, xz), and single
gz, bz2 and xz files. Nothing is extracted to disk: members are streams that decompress
as they are read, so no plaintext ever lands in a temporary file.

Guards: depth (an archive in an archive in ...), member count, and each member's expanded
size; a corrupt or truncated archive is an InputError naming the member, whenever the
damage is found (listing it, or reading it).
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
    return cast(BinaryIO, io.BufferedReader(_Guarded(opener(), name, cap, closers), 1 << 16))


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
        if "xl/workbook.xml" in names or "[Content_Types].xml" in names:
            return None
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gz"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def expand(member: Member, cap: int, depth: int = 0) -> Iterator[Member]:
    """The member itself if it is no archive, else the members inside it, recursively."""
    kind = kind_of(member)
    if kind is None:
        yield member
        return
    if depth >= MAX_DEPTH:
        raise InputError(f"archives nested more than {MAX_DEPTH} deep", Place(member.name))
    for inner in _members(member, kind, cap):
        yield from expand(inner, cap, depth + 1)


def _members(member: Member, kind: str, cap: int) -> Iterator[Member]:
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


def _zip(member: Member, cap: int) -> Iterator[Member]:
    with _seekable(member, cap) as raw, zipfile.ZipFile(raw) as z:
        infos = [i for i in z.infolist() if not i.is_dir()]
    if len(infos) > MAX_MEMBERS:
        raise InputError(f"more than {MAX_MEMBERS:,} members", Place(member.name))
    for info in infos:
        name = f"{member.name}!{info.filename}"
        if info.flag_bits & 0x1:
            raise InputError("encrypted zip member; not read", Place(name))

        def opener(info: zipfile.ZipInfo = info, name: str = name) -> BinaryIO:
            outer = _seekable(member, cap)
            z = zipfile.ZipFile(outer)
            return _stream(lambda: z.open(info), name, cap, z, outer)

        yield Member(name, opener, info.file_size)


def _tar(member: Member, cap: int) -> Iterator[Member]:
    """A tar read as a stream (`r|`): its source may be a decompressor that cannot seek.
    Opening a member walks the stream again up to it."""
    with member.open() as raw, tarfile.open(fileobj=raw, mode="r|") as t:
        infos: list[tuple[int, str, int]] = []
        for info in t:
            if info.isfile():
                infos.append((len(infos), info.name, info.size))
                if len(infos) > MAX_MEMBERS:
                    raise InputError(f"more than {MAX_MEMBERS:,} members", Place(member.name))
    for ordinal, inner_name, size in infos:
        name = f"{member.name}!{inner_name}"

        def opener(ordinal: int = ordinal, name: str = name) -> BinaryIO:
            outer = member.open()
            t = tarfile.open(fileobj=outer, mode="r|")
            seen = -1
            for info in t:
                if info.isfile():
                    seen += 1
                    if seen == ordinal:
                        inner = t.extractfile(info)
                        if inner is not None:
                            return _stream(lambda: inner, name, cap, t, outer)
                        break
            t.close()
            outer.close()
            raise InputError("the archive changed while it was read", Place(name))

        yield Member(name, opener, size)


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
    name = f"{member.name}!{base}"

    def opener() -> BinaryIO:
        outer = member.open()
        return _stream(lambda: _OPEN[kind](outer), name, cap, outer)

    return Member(name, opener, None)
