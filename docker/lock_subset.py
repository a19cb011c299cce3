"""Print the part of a hashed uv lock file that some packages need, hashes and all.

requirements.lock holds the production packages and the dev group (pytest, mypy, Playwright,
...) in one resolution. The image installs only what production needs, with the versions and
hashes of that very lock, so it is reproducible from it without resolving again. uv writes
who needs each package in its `# via` notes; this walks them down from the roots:

    python docker/lock_subset.py requirements.lock                        # production
    python docker/lock_subset.py requirements.lock gcp-storage-emulator   # that package
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

PRODUCTION = "arcade (pyproject.toml)"
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==")


@dataclass
class Entry:
    name: str
    lines: list[str] = field(default_factory=list)
    needed_by: set[str] = field(default_factory=set)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(text: str) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    current: Entry | None = None
    for line in text.splitlines():
        match = REQUIREMENT.match(line)
        if match:
            current = entries.setdefault(normalise(match[1]), Entry(normalise(match[1])))
            current.lines.append(line)
            continue
        if current is None:
            continue
        stripped = line.strip()
        if stripped.startswith("--hash") or line.endswith("\\"):
            current.lines.append(line)
        elif stripped.startswith("# via"):
            parent = stripped.removeprefix("# via").strip()
            if parent:
                current.needed_by.add(parent)
        elif stripped.startswith("#   "):
            current.needed_by.add(stripped.removeprefix("#").strip())
    return entries


def needed(entries: dict[str, Entry], roots: list[str]) -> list[str]:
    """Names of the roots and everything they need, in the lock's order."""
    if roots:
        keep = {normalise(root) for root in roots}
        unknown = keep - entries.keys()
        if unknown:
            raise SystemExit(f"not in the lock file: {', '.join(sorted(unknown))}")
    else:
        keep = {name for name, entry in entries.items() if PRODUCTION in entry.needed_by}
    grew = True
    while grew:
        grew = False
        for name, entry in entries.items():
            if name not in keep and any(normalise(p) in keep for p in entry.needed_by):
                keep.add(name)
                grew = True
    return [name for name in entries if name in keep]


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    entries = parse(Path(argv[0]).read_text())
    for name in needed(entries, argv[1:]):
        print("\n".join(entries[name].lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
