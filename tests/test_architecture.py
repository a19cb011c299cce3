"""The import rules of docs/architecture.md, checked on every module of the project."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = {
    "accounts", "agents", "arcade", "arena", "bench", "exports", "games", "play", "recording",
    "studies",
}  # fmt: skip

# What each room may import of the project's own packages (docs/architecture.md).
ALLOWED: dict[str, set[str]] = {
    "games.engine": {"games.engine"},
    "arena.sandbox": {"arena.sandbox"},
    "games": {"games", "accounts"},
    "accounts": {"accounts"},
    "recording": {"recording", "games", "accounts"},
    "play": {"play", "games", "recording", "accounts"},
    "exports": {"exports", "games", "recording", "accounts"},
    "studies": {"studies", "play", "exports", "games", "recording", "accounts"},
    "agents": {"agents", "play", "exports", "games", "recording", "accounts"},
    "arena": {"arena", "play", "exports", "games", "recording", "accounts"},
}
# What of `arcade` an app may import: the Celery app, to send tasks with (settings come
# through django.conf).
ARCADE_FOR_APPS = {"arcade.celery"}


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0].startswith(".") or relative.parts[0] not in FIRST_PARTY:
            continue
        if "tests" in relative.parts or path.name.startswith("test_"):
            continue  # tests build their cast from anywhere
        yield ".".join(relative.with_suffix("").parts), path


def imports(path: Path, module: str) -> Iterator[str]:
    """Every module this one imports, anywhere in it (function-level imports included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = (
                package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            )
            target = ".".join([*parts, *([node.module] if node.module else [])])
            if target:
                yield target
            for alias in node.names:  # `from play import engine` imports play.engine
                yield f"{target}.{alias.name}" if target else alias.name


def room(module: str) -> str | None:
    for inner in ("games.engine", "arena.sandbox"):  # rooms inside an app, stricter than it
        if module == inner or module.startswith(inner + "."):
            return inner
    return next((r for r in ALLOWED if module == r or module.startswith(r + ".")), None)


def within(target: str, rooms: set[str]) -> bool:
    return any(target == r or target.startswith(r + ".") for r in rooms)


def violations() -> list[str]:
    found = []
    for module, path in modules():
        own = room(module)
        if own is None:
            continue  # arcade and bench may import anything
        for target in imports(path, module):
            if target.split(".")[0] not in FIRST_PARTY:
                continue
            if target.startswith("arcade"):
                if own in ("games.engine", "arena.sandbox") or not within(target, ARCADE_FOR_APPS):
                    found.append(f"{module} imports {target}")
                continue
            if not within(target, ALLOWED[own]):
                found.append(f"{module} imports {target}")
    return sorted(set(found))


def test_it_finds_the_modules_it_checks() -> None:
    # A rule checked on nothing passes for nothing: the walk must see every room.
    seen = {room(module) for module, _ in modules()}
    assert set(ALLOWED) <= seen


def test_every_module_keeps_to_the_import_rules() -> None:
    assert violations() == []


def test_it_catches_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "verification.py"
    module.write_text("def f():\n    from play import engine\n    from .. import exports\n")
    targets = set(imports(module, "recording.verification"))
    assert {"play", "play.engine", "exports"} <= targets
    assert not within("play.engine", ALLOWED["recording"])


@pytest.mark.parametrize(
    "package",
    [
        "games.engine.codec",
        "games.engine.pool",
        "games.engine.replay",
        "games.engine.hosted",
        # The sandbox runs in a Celery worker, a bench, and (the runner) inside the sandbox.
        "arena.sandbox.agent",
        "arena.sandbox.runner",
    ],
)
def test_importing_the_engine_imports_no_django_or_celery(package: str) -> None:
    script = (
        f"import sys, {package}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'django', 'celery', 'channels', 'arcade', 'recording', 'play', 'exports'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_python_client_imports_nothing_of_the_project() -> None:
    # Programs install it alone (pip install ./client), with none of the server's code.
    client = ROOT / "client" / "arcade_client"
    found = [
        f"arcade_client.{path.stem} imports {target}"
        for path in sorted(client.glob("*.py"))
        for target in imports(path, f"arcade_client.{path.stem}")
        if target.split(".")[0] in FIRST_PARTY
    ]
    assert len(list(client.glob("*.py"))) > 5 and found == []
