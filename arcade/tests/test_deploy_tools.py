"""The deployment files pass the checkers their tools would apply: `terraform fmt`, python-hcl2,
checkov, actionlint (with shellcheck on the workflows' shell), shellcheck and Docker Compose's
own validation. The checkers come from .venv-infra (`make infra-tools`), binaries shipped in
their packages: nothing is downloaded here."""

from __future__ import annotations

import re
from pathlib import Path

from .deploy import ROOT, TERRAFORM, infra_tool, run_tool, terraform_files


def test_it_formats_terraform_as_terraform_fmt_does() -> None:
    run_tool([infra_tool("terraform"), "fmt", "-check", "-recursive", "-diff", "terraform/"])


def test_it_parses_every_terraform_file_with_python_hcl2() -> None:
    parsed = terraform_files()
    on_disk = {str(p.relative_to(TERRAFORM)) for p in TERRAFORM.rglob("*.tf")}
    assert set(parsed) == on_disk
    assert all(parsed.values())


def test_it_passes_checkov_on_terraform() -> None:
    run_tool(
        [
            infra_tool("checkov"),
            "--framework",
            "terraform",
            "--skip-download",
            "--quiet",
            "--compact",
            "--directory",
            "terraform",
        ]
    )


def test_it_passes_checkov_on_the_dockerfile() -> None:
    run_tool(
        [
            infra_tool("checkov"),
            "--framework",
            "dockerfile",
            "--skip-download",
            "--quiet",
            "--compact",
            "--file",
            "Dockerfile",
        ]
    )


def test_it_waives_checkov_findings_only_in_place_and_with_a_reason() -> None:
    files = [*TERRAFORM.rglob("*.tf"), ROOT / "Dockerfile"]
    waivers = [
        (path, line)
        for path in files
        for line in path.read_text().splitlines()
        if "checkov:skip" in line
    ]
    assert waivers, "expected the waivers docs/deploy.md lists"
    for path, line in waivers:
        assert re.search(r"#checkov:skip=CKV2?_[A-Z]+_\d+: \S.{30,}", line), f"{path}: {line}"


def test_it_passes_actionlint_with_shellcheck() -> None:
    infra_tool("shellcheck")  # actionlint checks `run:` scripts when shellcheck is on PATH
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert {p.name for p in workflows} >= {"ci.yml", "deploy.yml", "preview.yml"}
    run_tool([infra_tool("actionlint"), "-no-color", "-oneline", *workflows])


def test_it_passes_shellcheck_on_the_scripts() -> None:
    scripts = [ROOT / "docker" / "entrypoint.sh", *sorted((ROOT / ".ci").glob("*.sh"))]
    run_tool([infra_tool("shellcheck"), *scripts])


def test_it_is_a_compose_file_docker_compose_accepts() -> None:
    run_tool(
        [infra_tool("docker-compose"), "--env-file", "example.env", "config", "--quiet"],
        env={"ARCADE_ENV_FILE": "example.env"},
    )


def test_it_never_commits_terraform_state_or_variables_with_secrets() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    assert {".terraform/", "*.tfstate", "*.tfstate.*", "*.tfvars"} <= set(ignored)
    assert not list(Path(TERRAFORM).rglob("*.tfstate"))
