"""terraform/ read as python-hcl2 parses it: what Arcade needs of Google Cloud, checked without
the Google provider (`terraform validate` and `plan` need it downloaded, which cannot happen
here)."""

from __future__ import annotations

import re
from typing import Any

from .deploy import (
    settings_read,
    terraform_blocks,
    terraform_files,
    terraform_outputs,
    terraform_variables,
)


def resource(name: str, directory: str = ".") -> dict[str, Any]:
    return terraform_blocks("resource", directory)[name]


def only(block: Any) -> Any:
    """A nested block (python-hcl2 gives a list of one)."""
    assert isinstance(block, list) and len(block) == 1, block
    return block[0]


def web_container() -> dict[str, Any]:
    return dict(only(only(resource("google_cloud_run_v2_service.web")["template"])["containers"]))


def locals_() -> dict[str, Any]:
    """Every `locals` block of the environment root, merged."""
    merged: dict[str, Any] = {}
    for path, parsed in terraform_files().items():
        if "/" not in path:
            for block in parsed.get("locals", []):
                merged.update(block)
    return merged


def test_it_serves_websockets_for_an_hour_with_session_affinity() -> None:
    template = only(resource("google_cloud_run_v2_service.web")["template"])
    assert template["timeout"] == "3600s"
    assert template["session_affinity"] is True
    # WebSockets on Cloud Run need HTTP/1.1 to the container.
    assert only(web_container()["ports"]) == {"name": "http1", "container_port": 8000}
    assert web_container()["args"] == ["web"]


def test_it_keeps_web_instances_running_and_sizes_them_from_the_benchmark() -> None:
    template = only(resource("google_cloud_run_v2_service.web")["template"])
    assert only(template["scaling"])["min_instance_count"] == "${local.web_min_instances}"
    minimum = terraform_variables()["web_min_instances"]
    assert minimum["default"] >= 1
    assert "var.web_min_instances >= 1" in str(minimum["validation"])
    # One WebSocket is one request: concurrency is sessions per core x cores.
    assert template["max_instance_request_concurrency"] == "${local.web_concurrency}"
    assert locals_()["web_concurrency"] == "${var.web_sessions_per_core * var.web_cpu}"
    assert terraform_variables()["web_sessions_per_core"]["default"] <= 60
    # One web process per vCPU.
    env = locals_()["role_env"]["web"]
    assert env["ARCADE_WEB_PROCESSES"] == "${tostring(var.web_cpu)}"
    resources = only(web_container()["resources"])
    assert resources["cpu_idle"] is False  # game loops tick between requests' bytes


def test_it_probes_the_web_role_on_readyz_and_livez() -> None:
    container = web_container()
    assert only(only(container["startup_probe"])["http_get"])["path"] == "/readyz"
    # Liveness asks only whether the process serves: a database outage is no reason to restart.
    assert only(only(container["liveness_probe"])["http_get"])["path"] == "/livez"


def test_it_runs_workers_and_exactly_one_beat_always_on() -> None:
    pools = resource("google_cloud_run_v2_worker_pool.role")
    assert pools["for_each"] == "${local.pools}"
    assert set(locals_()["pools"]) == {"worker", "beat"}
    assert locals_()["pools"]["beat"]["instances"] == 1
    scaling = only(pools["scaling"])
    assert scaling["scaling_mode"] == "MANUAL"
    assert scaling["manual_instance_count"] == "${each.value.instances}"
    container = only(only(pools["template"])["containers"])
    assert container["args"] == ["${each.key}"]


def test_it_runs_migrations_as_a_job_of_the_same_image() -> None:
    jobs = resource("google_cloud_run_v2_job.role")
    assert locals_()["jobs"]["migrate"] == ["migrate"]
    container = only(only(only(jobs["template"])["template"])["containers"])
    assert container["image"] == "${var.image}"
    assert web_container()["image"] == "${var.image}"


def test_it_gives_each_role_only_the_secrets_it_needs() -> None:
    roles = locals_()["roles"]
    assert set(roles) == {"web", "worker", "beat", "jobs"}
    assert "DATABASE_URL" not in roles["beat"]
    assert all("DJANGO_SUPERUSER_PASSWORD" not in roles[r] for r in ("web", "worker", "beat"))
    secrets = set(locals_()["secret_names"])
    assert set().union(*roles.values()) == secrets
    # Secrets reach containers only from Secret Manager, never as plain values.
    assert not secrets & set(locals_()["env"])


def test_it_grants_nothing_project_wide_to_the_roles() -> None:
    assert not [n for n in terraform_blocks("resource") if n.startswith("google_project_iam")]
    grant = resource("google_secret_manager_secret_iam_member.role")
    assert grant["role"] == "roles/secretmanager.secretAccessor"
    assert resource("google_storage_bucket_iam_member.role")["role"] == "roles/storage.objectUser"


def test_it_sets_only_variables_that_arcade_reads() -> None:
    names = set(locals_()["env"]) | set(locals_()["secret_names"])
    names |= {n for env in locals_()["role_env"].values() for n in env}
    outside_settings = {
        "DJANGO_SUPERUSER_PASSWORD",  # read by `manage createsuperuser --noinput`
        "GS_IAM_SIGN_BLOB",  # django-storages signs through IAM on Cloud Run (docs/deploy.md)
        "ARCADE_PSEUDONYM_KEY",  # required by the dataset exports when DEBUG is false
    }
    assert names - outside_settings <= settings_read()


def test_it_keeps_recordings_private_with_lifecycle_rules() -> None:
    bucket = resource("google_storage_bucket.recordings")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    actions = [only(rule["action"])["type"] for rule in bucket["lifecycle_rule"]]
    assert {"Delete", "SetStorageClass", "AbortIncompleteMultipartUpload"} <= set(actions)
    prefixes = [only(rule["condition"]).get("matches_prefix") for rule in bucket["lifecycle_rule"]]
    assert ["exports/"] in prefixes and ["episodes/"] in prefixes


def test_it_keeps_the_database_and_redis_off_the_internet() -> None:
    database = only(resource("google_sql_database_instance.main")["settings"])
    assert only(database["ip_configuration"])["ipv4_enabled"] is False
    assert only(database["backup_configuration"])["enabled"] is True
    redis = resource("google_redis_instance.main")
    assert redis["auth_enabled"] is True
    assert redis["connect_mode"] == "PRIVATE_SERVICE_ACCESS"
    # Celery's queues and waiting chunks must never be evicted.
    assert redis["redis_configs"]["maxmemory-policy"] == "noeviction"


def test_it_makes_one_environment_per_workspace_production_or_pr_n() -> None:
    check = resource("terraform_data.workspace")
    condition = only(only(check["lifecycle"])["precondition"])["condition"]
    assert "^(production|pr-[0-9]+)$" in condition
    assert locals_()["environment"] == "${terraform.workspace}"
    assert locals_()["name"] == "arcade-${local.environment}"


def test_it_documents_every_variable_and_output() -> None:
    for directory in (".", "bootstrap"):
        for kind, blocks in (
            ("variable", terraform_variables(directory)),
            ("output", terraform_outputs(directory)),
        ):
            assert blocks, f"{directory} has no {kind}s"
            for name, body in blocks.items():
                assert len(body.get("description", "")) > 15, f"{directory}: {kind} {name}"


def test_it_lets_only_this_repositorys_deploy_jobs_act_as_the_deployer() -> None:
    provider = resource("google_iam_workload_identity_pool_provider.github", "bootstrap")
    condition = provider["attribute_condition"]
    assert re.findall(r":environment:(\w+)'", condition) == ["production", "preview"]
    keys = [n for n in terraform_blocks("resource", "bootstrap") if "service_account_key" in n]
    assert not keys, "GitHub authenticates through Workload Identity Federation, not keys"
