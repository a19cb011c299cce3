"""The Python client (``client/``) as the project installs it: ``make install`` puts it in the
venv editable and without dependencies of its own, so the lock must hold every one it needs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def locked() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text()
    return {
        name.lower().replace("_", "-"): version
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^ \\\n]+)", text, re.MULTILINE)
    }


def test_every_dependency_of_the_client_is_locked_at_a_version_it_accepts() -> None:
    project = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]
    versions = locked()
    assert project["dependencies"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        version = versions.get(requirement.name.lower())
        assert version is not None, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(version), f"{requirement.name}=={version}: {line}"


def test_the_installed_client_is_the_one_in_the_repository() -> None:
    import arcade_client

    assert Path(arcade_client.__file__).resolve().parent == ROOT / "client" / "arcade_client"
