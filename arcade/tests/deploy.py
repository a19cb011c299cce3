"""What the deployment tests share: the repository's deployment files read by the tools that
read them in production (Docker Compose, BuildKit's Dockerfile parser, python-hcl2), and the
checkers from .venv-infra (`make infra-tools`)."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / ".venv-infra"
TERRAFORM = ROOT / "terraform"
# As the image has them: docker/entrypoint.sh, under WORKDIR /app.
IMAGE_ROOT = "/app"

REQUIRE_TOOLS = os.environ.get("CI") == "true" or os.environ.get("ARCADE_REQUIRE_SERVICES") == "1"


def infra_tool(name: str) -> Path:
    """A checker from .venv-infra; `make test` installs them, so there they must exist."""
    path = INFRA / "bin" / name
    if not path.exists():
        message = f"{path} is missing: run `make infra-tools`"
        if REQUIRE_TOOLS:
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_tool(args: list[str | Path], *, timeout: float = 120, **kwargs: Any) -> str:
    """Run a checker from the repository root; fail with its output when it fails."""
    env = {**os.environ, "PATH": f"{INFRA / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.update(kwargs.pop("env", {}))
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{output}"
    return output


def infra_python(code: str, *, pythonpath: Path | None = None) -> Any:
    """Run Python code in .venv-infra and return the JSON it prints."""
    python = infra_tool("python")
    env = {"PYTHONPATH": str(pythonpath)} if pythonpath else {}
    return json.loads(run_tool([python, "-c", code], env=env))


@functools.cache
def terraform_files() -> dict[str, Any]:
    """Every .tf file under terraform/, parsed by python-hcl2 (in .venv-infra/hcl2)."""
    hcl2_dir = INFRA / "hcl2"
    if not hcl2_dir.exists():
        infra_tool(str(hcl2_dir / "missing"))
    return dict(
        infra_python(
            f"""
import json, pathlib, hcl2
options = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)
root = pathlib.Path({str(TERRAFORM)!r})
print(json.dumps({{
    str(path.relative_to(root)): hcl2.load(path.open(), serialization_options=options)
    for path in sorted(root.rglob("*.tf")) if ".terraform" not in path.parts
}}))
""",
            pythonpath=hcl2_dir,
        )
    )


def terraform_blocks(kind: str, directory: str = ".") -> dict[str, dict[str, Any]]:
    """`resource` or `data` blocks of one Terraform root, as {"type.name": body}."""
    blocks: dict[str, dict[str, Any]] = {}
    for path, parsed in terraform_files().items():
        if str(Path(path).parent) != directory:
            continue
        for block in parsed.get(kind, []):
            for type_, named in block.items():
                for name, body in named.items():
                    blocks[f"{type_.strip(chr(34))}.{name.strip(chr(34))}"] = body
    return blocks


def terraform_variables(directory: str = ".") -> dict[str, dict[str, Any]]:
    variables: dict[str, dict[str, Any]] = {}
    for path, parsed in terraform_files().items():
        if str(Path(path).parent) == directory:
            for block in parsed.get("variable", []):
                variables.update({k.strip('"'): v for k, v in block.items()})
    return variables


def terraform_outputs(directory: str = ".") -> dict[str, dict[str, Any]]:
    outputs: dict[str, dict[str, Any]] = {}
    for path, parsed in terraform_files().items():
        if str(Path(path).parent) == directory:
            for block in parsed.get("output", []):
                outputs.update({k.strip('"'): v for k, v in block.items()})
    return outputs


@functools.cache
def compose() -> dict[str, Any]:
    """docker-compose.yml as Docker Compose resolves it with example.env as the settings."""
    output = run_tool(
        [
            infra_tool("docker-compose"),
            "--env-file",
            "example.env",
            "--project-directory",
            ROOT,
            "config",
            "--format",
            "json",
        ],
        env={"ARCADE_ENV_FILE": "example.env"},
    )
    return dict(json.loads(output))


@functools.cache
def dockerfile() -> list[dict[str, Any]]:
    """The Dockerfile's instructions, parsed by BuildKit's parser, each with its stage."""
    instructions: list[dict[str, Any]] = infra_python(
        f"""
import json, dockerfile
print(json.dumps([
    {{"cmd": i.cmd, "value": list(i.value), "json": i.json, "original": i.original,
      "flags": list(i.flags)}}
    for i in dockerfile.parse_file({str(ROOT / "Dockerfile")!r})
]))
"""
    )
    stage = ""
    for instruction in instructions:
        if instruction["cmd"] == "FROM":
            value = instruction["value"]
            stage = value[2] if len(value) == 3 and value[1].upper() == "AS" else value[0]
        instruction["stage"] = stage
    return instructions


def stage(name: str) -> list[dict[str, Any]]:
    return [i for i in dockerfile() if i["stage"] == name]


def image_env(name: str) -> dict[str, str]:
    """The ENV a stage of the Dockerfile sets (its own, and its base stage's)."""
    env: dict[str, str] = {}
    chain = [name]
    while True:
        first = stage(chain[-1])[0]["value"][0]
        if not any(i["stage"] == first for i in dockerfile()):
            break
        chain.append(first)
    for stage_name in reversed(chain):
        for instruction in stage(stage_name):
            if instruction["cmd"] == "ENV":
                values = instruction["value"]
                for key, value in zip(values[::2], values[1::2], strict=True):
                    env[key] = value
    return env


def production_lock() -> str:
    """The part of requirements.lock that the image installs."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "docker" / "lock_subset.py"), str(ROOT / "requirements.lock")],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def settings_read() -> set[str]:
    """Environment variables that arcade/settings.py and docker/entrypoint.sh read."""
    settings = (ROOT / "arcade" / "settings.py").read_text()
    names = set(
        re.findall(
            r"""(?:env\w*|os\.environ\.get|getenv)\(\s*["']([A-Z][A-Z0-9_]*)["']""", settings
        )
    )
    names |= set(re.findall(r"""os\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']""", settings))
    entrypoint = (ROOT / "docker" / "entrypoint.sh").read_text()
    names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", entrypoint))
    return names
