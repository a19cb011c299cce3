"""The GitHub Actions workflows (.github/workflows), read as GitHub reads them; actionlint
checks their syntax in test_deploy_tools.py, these check what they do."""

from __future__ import annotations

from typing import Any

import yaml

from .deploy import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return dict(data)


def test_it_tests_every_push_against_postgresql_and_redis_services() -> None:
    ci = workflow("ci.yml")
    assert ci["on"]["push"]["branches"] == ["**"]
    test = ci["jobs"]["test"]
    assert set(test["services"]) == {"postgres", "redis"}
    assert test["env"]["ARCADE_EXTERNAL_SERVICES"] == "1"
    assert test["env"]["DATABASE_URL"].startswith("postgres://arcade@postgres:5432/")
    assert test["env"]["REDIS_URL"] == "redis://redis:6379/0"
    assert [step.get("run") for step in test["steps"]][-1] == "make test"


def test_it_starts_the_compose_stack_and_waits_for_health() -> None:
    runs = " ".join(step.get("run", "") for step in workflow("ci.yml")["jobs"]["compose"]["steps"])
    assert "cp example.env .env" in runs
    assert "docker compose up --detach --wait" in runs
    assert "docker compose down --volumes" in runs


def test_it_deploys_production_only_from_main_after_the_tests() -> None:
    deploy = workflow("ci.yml")["jobs"]["deploy"]
    assert "refs/heads/main" in deploy["if"] and "push" in deploy["if"]
    assert deploy["needs"] == ["test", "compose"]
    assert deploy["uses"] == "./.github/workflows/deploy.yml"
    assert deploy["with"]["workspace"] == "production"
    assert deploy["with"]["environment"] == "production"


def test_it_migrates_with_the_new_image_before_applying_it_everywhere() -> None:
    steps = workflow("deploy.yml")["jobs"]["deploy"]["steps"]
    names = [step.get("name") or step.get("uses") or step.get("id") for step in steps]
    assert names.index("Migrate") < names.index("terraform apply")
    migrate = next(step for step in steps if step.get("name") == "Migrate")
    assert "-target=google_cloud_run_v2_job.role" in migrate["run"]
    # terraform/run.tf names the job "${local.name}-migrate", local.name "arcade-<workspace>".
    assert 'gcloud run jobs execute "arcade-${{ inputs.workspace }}-migrate"' in migrate["run"]
    assert "@${{ steps.build.outputs.digest }}" in migrate["env"]["TF_VAR_image"]


def test_it_authenticates_to_google_cloud_without_keys() -> None:
    for name in ("deploy.yml", "preview.yml"):
        text = (WORKFLOWS / name).read_text()
        assert "credentials_json" not in text
        assert "workload_identity_provider: ${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}" in text
    assert workflow("deploy.yml")["permissions"]["id-token"] == "write"


def test_it_makes_a_preview_per_pull_request_and_destroys_it_on_close() -> None:
    preview = workflow("preview.yml")
    assert set(preview["on"]["pull_request"]["types"]) >= {"opened", "synchronize", "closed"}
    deploy, destroy = preview["jobs"]["deploy"], preview["jobs"]["destroy"]
    assert deploy["with"]["workspace"] == "pr-${{ github.event.pull_request.number }}"
    assert "!= 'closed'" in deploy["if"] and "== 'closed'" in destroy["if"]
    script = destroy["steps"][-1]["run"]
    assert "terraform destroy" in script
    assert 'terraform workspace delete "$WORKSPACE"' in script
    assert destroy["env"]["WORKSPACE"] == deploy["with"]["workspace"]
