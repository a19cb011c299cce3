"""A submission's zip, checked before anything of it is unpacked, and unpacked safely.

An upload is hostile until shown otherwise. ``check`` reads only the zip's directory and refuses,
each with a code and a message that names what to fix:

- ``not_a_zip``: not a zip, or a damaged one; ``encrypted``: a member needs a password;
- ``too_large``: the upload itself over ``Limits.zip_bytes``;
- ``too_many_files``, ``too_large_unpacked``: over the limits once unpacked;
- ``zip_bomb``: a member that unpacks to more than ``Limits.ratio`` times its packed size;
- ``bad_path``: an absolute path, a ``..``, a backslash, a drive letter or a control character
  in a name, or a symbolic link (each could write outside the folder it is unpacked into);
- ``name_clash``: two members whose names differ only in case, or a file where another member
  needs a folder (``a`` and ``a/b``): unpacked, one would replace the other;
- ``no_agent``: no ``agent.py`` at the top (or in the one folder everything is in, as zipping a
  folder makes it).

``unpack`` checks first, then writes each member itself, counting the bytes it inflates
rather than trusting the sizes the directory declares: a zip that lies about them is refused
(``zip_bomb``) as soon as a member passes its declared size, and nothing is left behind.
"""

from __future__ import annotations

import io
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MiB = 1 << 20
AGENT_FILE = "agent.py"
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Limits:
    zip_bytes: int = 20 * MiB
    unpacked_bytes: int = 100 * MiB  # ONNX weights are the big part of an agent
    files: int = 1000
    ratio: int = 200  # deflate rarely beats 10:1 on real files; a bomb does 1000:1
    name_length: int = 255


DEFAULT = Limits()


class ArchiveError(ValueError):
    """A submission refused, with a code (above) and a message naming what to fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Member:
    name: str  # its path once unpacked, the common top folder (if any) taken off
    size: int


@dataclass(frozen=True, slots=True)
class Contents:
    members: tuple[Member, ...]
    top: str  # the one folder everything was in ("" when the files are at the zip's top)

    @property
    def unpacked_bytes(self) -> int:
        return sum(m.size for m in self.members)


def check(data: bytes, limits: Limits = DEFAULT) -> Contents:
    """The zip's files, or ArchiveError saying why it is refused; nothing is unpacked."""
    if len(data) > limits.zip_bytes:
        raise ArchiveError(
            "too_large",
            f"The zip is {len(data) / MiB:.1f} MiB; an agent may be at most "
            f"{limits.zip_bytes / MiB:.0f} MiB.",
        )
    with _opened(data) as archive:
        return _contents(archive.infolist(), limits)


def unpack(data: bytes, folder: Path, limits: Limits = DEFAULT) -> Contents:
    """Check the zip, then unpack its files into ``folder`` (made here, and removed again if
    any member turns out to be other than its directory said)."""
    contents = check(data, limits)
    folder.mkdir(parents=True)
    try:
        with _opened(data) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            for info, member in zip(infos, contents.members, strict=True):
                _write(archive, info, member, folder, limits)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return contents


def _opened(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise ArchiveError(
            "not_a_zip", f"That is not a zip file we can read ({exc}); upload a .zip."
        ) from None


def _contents(infos: list[zipfile.ZipInfo], limits: Limits) -> Contents:
    files = [info for info in infos if not info.is_dir()]
    if len(files) > limits.files:
        raise ArchiveError(
            "too_many_files",
            f"The zip holds {len(files)} files; an agent may have at most {limits.files}.",
        )
    total = 0
    for info in infos:
        _check_name(info, limits)
        if info.flag_bits & 0x1:
            raise ArchiveError(
                "encrypted", f"{info.filename!r} is encrypted; upload the zip without a password."
            )
        if info.is_dir():
            continue
        total += info.file_size
        if info.file_size > max(info.compress_size, 1) * limits.ratio:
            raise ArchiveError(
                "zip_bomb",
                f"{info.filename!r} unpacks to {info.file_size:,} bytes from "
                f"{info.compress_size:,}: more than {limits.ratio} times; zip plain files.",
            )
    if total > limits.unpacked_bytes:
        raise ArchiveError(
            "too_large_unpacked",
            f"The zip unpacks to {total / MiB:.1f} MiB; an agent may be at most "
            f"{limits.unpacked_bytes / MiB:.0f} MiB unpacked.",
        )
    names = [PurePosixPath(info.filename.rstrip("/")) for info in files]
    top = _common_top(names)
    members = tuple(
        Member(name=str(name.relative_to(top)) if top else str(name), size=info.file_size)
        for name, info in zip(names, files, strict=True)
    )
    _check_clashes([PurePosixPath(m.name) for m in members])
    if not any(m.name == AGENT_FILE for m in members):
        raise ArchiveError(
            "no_agent",
            f"The zip has no {AGENT_FILE} at its top (or in the one folder everything is in); "
            "put the file that defines your agent's class there.",
        )
    return Contents(members=members, top=top)


def _check_name(info: zipfile.ZipInfo, limits: Limits) -> None:
    name = info.filename
    refused = ""
    if not name or len(name) > limits.name_length:
        refused = f"a name must be 1 to {limits.name_length} characters"
    elif "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        refused = "names are relative, with forward slashes"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        refused = "a name has a control character"
    elif any(part in ("..", ".") for part in name.rstrip("/").split("/")) or "//" in name:
        refused = "a name may not step out of its folder"
    elif stat.S_ISLNK(info.external_attr >> 16):
        refused = "symbolic links are not allowed"
    if refused:
        raise ArchiveError("bad_path", f"{name!r} is refused: {refused}.")


def _common_top(names: list[PurePosixPath]) -> str:
    """The one folder every file is in, when there is one and agent.py is not at the top."""
    tops = {name.parts[0] for name in names}
    if len(tops) == 1 and all(len(name.parts) > 1 for name in names):
        return tops.pop()
    return ""


def _check_clashes(names: list[PurePosixPath]) -> None:
    seen: dict[str, PurePosixPath] = {}
    folders = {str(parent).lower() for name in names for parent in name.parents}
    for name in names:
        key = str(name).lower()
        if key in seen:
            raise ArchiveError(
                "name_clash",
                f"{str(seen[key])!r} and {str(name)!r} would be one file once unpacked; "
                "rename one.",
            )
        if key in folders:
            raise ArchiveError(
                "name_clash", f"{str(name)!r} is a file, and other files are in it as a folder."
            )
        seen[key] = name


def _write(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, member: Member, folder: Path, limits: Limits
) -> None:
    target = folder / member.name
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with archive.open(info) as source, target.open("xb") as sink:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                if written > member.size:
                    raise ArchiveError(
                        "zip_bomb",
                        f"{info.filename!r} unpacks to more than the {member.size:,} bytes "
                        "the zip says it holds.",
                    )
                sink.write(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, ArchiveError):
            raise
        raise ArchiveError(
            "not_a_zip", f"{info.filename!r} could not be unpacked ({exc}); zip it again."
        ) from None
