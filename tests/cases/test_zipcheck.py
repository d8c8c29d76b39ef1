import io
import stat
import zipfile

import pytest

from cases import zipcheck
from cases.zipcheck import ResultFileRejected, inspect_zip


def _zip(tmp_path, entries, name="result.zip"):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in entries:
            if isinstance(entry, zipfile.ZipInfo):
                archive.writestr(entry, b"target")
            else:
                archive.writestr(entry[0], entry[1])
    return path


def test_a_vendor_result_is_listed(tmp_path):
    path = _zip(tmp_path, [("Analytics/data.json", b'{"rows": []}'), ("Profile/p.json", b"{}")])
    entries = inspect_zip(path)
    assert [e.name for e in entries] == ["Analytics/data.json", "Profile/p.json"]
    assert entries[0].size == len(b'{"rows": []}')


def test_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "x.zip"
    path.write_bytes(b"<html>Access denied</html>")
    with pytest.raises(ResultFileRejected, match="not a valid ZIP"):
        inspect_zip(path)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "a/../../b", "C:/x", "..\\x"])
def test_traversal_and_absolute_paths_are_refused(tmp_path, name):
    with pytest.raises(ResultFileRejected, match="path"):
        inspect_zip(_zip(tmp_path, [(name, b"x")]))


def test_symlinks_are_refused(tmp_path):
    link = zipfile.ZipInfo("Analytics/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with pytest.raises(ResultFileRejected, match="symbolic link"):
        inspect_zip(_zip(tmp_path, [link]))


def test_a_zip_bomb_is_refused(tmp_path):
    bomb = _zip(tmp_path, [("Analytics/zeros.json", b"0" * (50 * 1024 * 1024))])
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ResultFileRejected, match="ZIP bomb"):
        inspect_zip(bomb)


def test_oversize_total_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(zipcheck, "MAX_TOTAL_UNCOMPRESSED", 1000)
    path = _zip(tmp_path, [("a.json", bytes(range(256)) * 3), ("b.json", bytes(range(256)) * 3)])
    with pytest.raises(ResultFileRejected, match="unpacks to more than"):
        inspect_zip(path)


def test_too_many_entries_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(zipcheck, "MAX_ENTRIES", 3)
    path = _zip(tmp_path, [(f"f{i}.json", b"{}") for i in range(4)])
    with pytest.raises(ResultFileRejected, match="entries"):
        inspect_zip(path)


def test_a_lying_size_header_is_caught(tmp_path, monkeypatch):
    """Corrupt the stored data: decompression fails and the file is refused, not trusted."""
    path = _zip(tmp_path, [("a.json", b"x" * 5000)])
    data = bytearray(path.read_bytes())
    offset = data.find(b"a.json") + len("a.json")
    data[offset : offset + 20] = b"\xff" * 20
    path.write_bytes(bytes(data))
    with pytest.raises(ResultFileRejected):
        inspect_zip(path)


def test_empty_zip_is_accepted_with_no_entries(tmp_path):
    buffer = io.BytesIO()
    zipfile.ZipFile(buffer, "w").close()
    path = tmp_path / "empty.zip"
    path.write_bytes(buffer.getvalue())
    assert inspect_zip(path) == []
