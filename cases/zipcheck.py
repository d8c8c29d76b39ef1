"""Checks a vendor's result ZIP before it is accepted and attached to a case.

A result file comes from outside and is opened later by officers and regulators, so it must be a
real ZIP, small enough when unpacked, and free of paths or links that escape a folder. The check
decompresses every entry with a running byte count, so a header that lies about sizes is caught.
"""

import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_ENTRIES = 10_000
MAX_TOTAL_UNCOMPRESSED = 2 * 1024**3  # 2 GiB
MAX_COMPRESSION_RATIO = 200  # a real JSON/CSV export compresses ~10:1; bombs reach 1000:1
_CHUNK = 1024 * 1024


class ResultFileRejected(Exception):
    """The file is not accepted; the message says why, for an officer."""


@dataclass(frozen=True)
class ZipEntry:
    name: str
    size: int
    compressed_size: int

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "size": self.size, "compressed_size": self.compressed_size}


def _check_name(name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ResultFileRejected(f"The ZIP holds an absolute path: {name!r}.")
    if ".." in path.parts:
        raise ResultFileRejected(f"The ZIP holds a path that climbs out of its folder: {name!r}.")


def _check_info(info: zipfile.ZipInfo) -> None:
    _check_name(info.filename)
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ResultFileRejected(f"The ZIP holds a symbolic link: {info.filename!r}.")
    if info.flag_bits & 0x1:
        raise ResultFileRejected(f"The ZIP holds an encrypted entry: {info.filename!r}.")


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> int:
    """Decompress one entry, counting real bytes; returns its size."""
    size = 0
    with archive.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > budget:
                raise ResultFileRejected(
                    f"The ZIP unpacks to more than {MAX_TOTAL_UNCOMPRESSED:,} bytes."
                )
            ratio_base = max(info.compress_size, 1)
            if size > 1024 * 1024 and size / ratio_base > MAX_COMPRESSION_RATIO:
                raise ResultFileRejected(
                    f"{info.filename!r} expands more than {MAX_COMPRESSION_RATIO}:1 "
                    "(a ZIP bomb?)."
                )
    return size


def inspect_zip(path: Path) -> list[ZipEntry]:
    """Return the listing of a safe ZIP, or raise ResultFileRejected saying what is wrong."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ResultFileRejected(f"The file is not a valid ZIP archive ({exc}).") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ResultFileRejected(
                f"The ZIP holds {len(infos):,} entries (limit {MAX_ENTRIES:,})."
            )
        entries, budget = [], MAX_TOTAL_UNCOMPRESSED
        for info in infos:
            _check_info(info)
            if info.is_dir():
                continue
            try:
                size = _read_entry(archive, info, budget)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError) as exc:
                raise ResultFileRejected(f"{info.filename!r} is corrupt ({exc}).") from None
            budget -= size
            entries.append(ZipEntry(info.filename, size, info.compress_size))
    return entries
