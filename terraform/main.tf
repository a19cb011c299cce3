# One Arcade environment per Terraform workspace: `production`, and `pr-N` for the preview of
# pull request N (made and destroyed by .github/workflows/preview.yml). Every name carries the
# environment, so environments share the project and nothing else. terraform/bootstrap makes
# what they share: the state bucket, Artifact Registry and the deployer identity.

locals {
  environment   = terraform.workspace
  is_production = local.environment == "production"
  name          = "arcade-${local.environment}"
  labels = {
    app         = "arcade"
    environment = local.environment
  }

  # Previews are small and disposable; production is sized by the variables (docs/deploy.md).
  web_min_instances = local.is_production ? var.web_min_instances : 1
  web_max_instances = local.is_production ? var.web_max_instances : 2
  worker_instances  = local.is_production ? var.worker_instances : 1
  db_tier           = local.is_production ? var.db_tier : "db-g1-small"

  # Cloud Run counts a WebSocket as one request for as long as it is open, so concurrency is
  # the number of live sessions one instance holds: one web process per core, each holding
  # web_sessions_per_core sessions at 60 fps (docs/performance.md).
  web_concurrency = var.web_sessions_per_core * var.web_cpu

  # Cloud Run's own address is known before the service exists; Django must accept it.
  run_host      = "${local.name}-web-${data.google_project.this.number}.${var.region}.run.app"
  allowed_hosts = concat([local.run_host], var.domains)
}

data "google_project" "this" {
  project_id = var.project_id
}

# Refuse workspaces that are neither production nor a preview: `default` is nobody's.
resource "terraform_data" "workspace" {
  input = local.environment

  lifecycle {
    precondition {
      condition     = can(regex("^(production|pr-[0-9]+)$", local.environment))
      error_message = "Select the workspace `production` or `pr-N` (terraform workspace select -or-create ...)."
    }
  }
}
