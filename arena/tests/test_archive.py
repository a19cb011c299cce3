"""A submission's zip: refused with a code that names what to fix, never unpacked outside its
folder, never past its limits, and nothing left behind when it is refused."""

from __future__ import annotations

import io
import random
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from arena.sandbox.archive import ArchiveError, Limits, check, unpack

AGENT = b"class Agent:\n    def act(self, observation, mask):\n        return int(mask.argmax())\n"


def zipped(*files: tuple[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in files:
            archive.writestr(name, content)
    return buffer.getvalue()


def refused(data: bytes, limits: Limits | None = None) -> str:
    with pytest.raises(ArchiveError) as caught:
        check(data, limits or Limits())
    assert caught.value.message  # a message naming what to fix, always
    return caught.value.code


def test_it_unpacks_an_agent_with_its_own_files(tmp_path: Path) -> None:
    data = zipped(("agent.py", AGENT), ("model.onnx", b"\x08\x07" * 500), ("lib/util.py", b"x=1"))

    contents = unpack(data, tmp_path / "agent")

    assert {m.name for m in contents.members} == {"agent.py", "model.onnx", "lib/util.py"}
    assert (tmp_path / "agent" / "agent.py").read_bytes() == AGENT
    assert (tmp_path / "agent" / "lib" / "util.py").read_bytes() == b"x=1"
    assert contents.unpacked_bytes == len(AGENT) + 1000 + 3


def test_a_zipped_folder_is_unpacked_without_the_folder(tmp_path: Path) -> None:
    data = zipped(("my-agent/agent.py", AGENT), ("my-agent/weights/a.onnx", b"w"))

    contents = unpack(data, tmp_path / "agent")

    assert contents.top == "my-agent"
    assert (tmp_path / "agent" / "agent.py").is_file()
    assert (tmp_path / "agent" / "weights" / "a.onnx").is_file()


def test_it_refuses_what_is_not_a_zip_or_is_damaged() -> None:
    assert refused(b"#!/bin/sh\nrm -rf /\n") == "not_a_zip"
    assert refused(zipped(("agent.py", AGENT))[:-30]) == "not_a_zip"


def test_it_refuses_a_zip_without_agent_py_at_its_top() -> None:
    assert refused(zipped(("main.py", AGENT))) == "no_agent"
    assert refused(zipped(("a/agent.py", AGENT), ("b/x.py", b""))) == "no_agent"


@pytest.mark.parametrize(
    "name",
    [
        "../agent.py",
        "lib/../../escape.py",
        "/etc/cron.d/job",
        "C:/windows/evil.py",
        "lib\\..\\evil.py",
        "lib//x.py",
        "./agent.py",
        "bad\x1bname.py",
        "bad\nname.py",
    ],
)
def test_it_refuses_a_path_that_would_leave_its_folder(name: str) -> None:
    info = zipfile.ZipInfo("agent.py")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, AGENT)
        evil = zipfile.ZipInfo("placeholder")
        evil.filename = name  # zipfile tidies names given to ZipInfo(); a hostile zip need not
        archive.writestr(evil, b"x")
    assert refused(buffer.getvalue()) == "bad_path"


def test_it_refuses_a_symbolic_link(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("agent.py", AGENT)
        link = zipfile.ZipInfo("secrets")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/root/.ssh/id_rsa")
    assert refused(buffer.getvalue()) == "bad_path"
    assert not (tmp_path / "agent").exists()


def test_it_refuses_names_that_clash_once_unpacked() -> None:
    assert refused(zipped(("agent.py", AGENT), ("Model.onnx", b"a"), ("model.onnx", b"b"))) == (
        "name_clash"
    )
    assert refused(zipped(("agent.py", AGENT), ("lib", b"a"), ("lib/x.py", b"b"))) == "name_clash"
    with pytest.warns(UserWarning, match="Duplicate name"):  # zipfile writes it all the same
        twice = zipped(("agent.py", AGENT), ("agent.py", b"again"))
    assert refused(twice) == "name_clash"


def test_it_refuses_a_zip_over_its_limits() -> None:
    small = Limits(zip_bytes=1000, unpacked_bytes=5000, files=3)
    noise = random.Random(1).randbytes(2000)  # does not deflate
    assert refused(zipped(("agent.py", AGENT), ("noise", noise)), small) == "too_large"
    files = [("agent.py", AGENT), *((f"f{i}.py", b"") for i in range(3))]
    assert refused(zipped(*files), small) == "too_many_files"
    stored = zipped(("agent.py", AGENT), ("big", b"x" * 6000), method=zipfile.ZIP_STORED)
    assert refused(stored, Limits(unpacked_bytes=5000)) == "too_large_unpacked"


def test_it_refuses_a_zip_bomb_by_its_ratio() -> None:
    bomb = zipped(("agent.py", AGENT), ("zeros", bytes(50 * 1024 * 1024)))
    assert len(bomb) < 100_000
    assert refused(bomb) == "zip_bomb"


def lying(data: bytes, name: bytes, size: int) -> bytes:
    """``data`` with the sizes of member ``name`` rewritten to ``size``, in its local header
    and the central directory: a zip that lies about what it unpacks to."""
    patched = bytearray(data)
    local = patched.index(b"PK\x03\x04" + b"\x14\x00")  # the first member's local header
    while True:
        length = struct.unpack_from("<H", patched, local + 26)[0]
        if bytes(patched[local + 30 : local + 30 + length]) == name:
            struct.pack_into("<I", patched, local + 22, size)
            break
        local = patched.index(b"PK\x03\x04", local + 4)
    central = patched.index(b"PK\x01\x02")
    while central != -1:
        length = struct.unpack_from("<H", patched, central + 28)[0]
        if bytes(patched[central + 46 : central + 46 + length]) == name:
            struct.pack_into("<I", patched, central + 24, size)
        central = patched.find(b"PK\x01\x02", central + 4)
    return bytes(patched)


def test_a_zip_that_lies_about_its_sizes_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    data = lying(zipped(("agent.py", AGENT), ("weights", bytes(200_000))), b"weights", 1000)
    check(data)  # its directory looks harmless

    with pytest.raises(ArchiveError) as caught:
        unpack(data, tmp_path / "agent")

    assert caught.value.code in ("zip_bomb", "not_a_zip")
    assert not (tmp_path / "agent").exists()


def test_it_refuses_an_encrypted_member() -> None:
    data = bytearray(zipped(("agent.py", AGENT)))
    # Set the "encrypted" flag bit of the member in both headers, as a password-protected zip.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature)
        flags = struct.unpack_from("<H", data, at + offset)[0]
        struct.pack_into("<H", data, at + offset, flags | 0x1)
    assert refused(bytes(data)) == "encrypted"
