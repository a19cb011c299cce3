# Applied once per Google Cloud project, by a person, before anything else (docs/deploy.md):
# the APIs, the bucket that holds every environment's Terraform state, the Artifact Registry
# repository for the image, and the identity GitHub Actions deploys with (Workload Identity
# Federation: no JSON keys exist). Its own state stays local, or move it into the bucket
# afterwards with `terraform init -migrate-state`.

terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

locals {
  github_owner = split("/", var.github_repository)[0]
  github_name  = split("/", var.github_repository)[1]

  apis = [
    "artifactregistry.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "compute.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "redis.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
    "sts.googleapis.com",
  ]
  # What terraform/ creates and changes in each environment, and nothing else. It grants
  # itself the right to deploy as each environment's service accounts on those accounts
  # alone (terraform/iam.tf), not project-wide.
  deployer_roles = [
    "roles/artifactregistry.reader",
    "roles/cloudsql.admin",
    "roles/compute.networkAdmin",
    "roles/iam.serviceAccountAdmin",
    "roles/redis.admin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/servicenetworking.networksAdmin",
    "roles/storage.admin",
  ]
}

resource "google_project_service" "apis" {
  for_each           = toset(local.apis)
  service            = each.value
  disable_on_destroy = false
}

# --- Terraform state of every environment (one prefix per workspace) ------------------------
resource "google_storage_bucket" "state" {
  #checkov:skip=CKV_GCP_62: access to the state is in the project's Cloud Audit Logs; a log bucket for one small bucket is not worth its cost
  name                        = "${var.project_id}-arcade-tfstate"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  # Old state versions are kept a while for recovery, not forever.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 90
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

# --- Artifact Registry: the image every role runs -------------------------------------------
resource "google_artifact_registry_repository" "arcade" {
  #checkov:skip=CKV_GCP_84: Google-managed encryption keys; a customer-managed key would add a key ring and its rotation for a repository of public code
  repository_id = "arcade"
  location      = var.region
  format        = "DOCKER"
  description   = "Arcade's container image (Dockerfile), one tag per commit"

  # Pull-request images are deleted after two weeks; main's last 20 are kept.
  cleanup_policies {
    id     = "keep-recent-main"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }
  cleanup_policies {
    id     = "delete-old-previews"
    action = "DELETE"
    condition {
      tag_state    = "TAGGED"
      tag_prefixes = ["pr-"]
      older_than   = "1209600s"
    }
  }

  depends_on = [google_project_service.apis]
}

# --- GitHub Actions: Workload Identity Federation, no keys ----------------------------------
resource "google_iam_workload_identity_pool" "github" {
  workload_identity_pool_id = "github"
  display_name              = "GitHub Actions"
  depends_on                = [google_project_service.apis]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github-actions"
  display_name                       = "GitHub Actions OIDC"
  # Only this repository's jobs that run in its `production` or `preview` GitHub environment
  # (the deploy workflows) can exchange their token; pushes and pull requests alone cannot.
  attribute_condition = "assertion.sub == 'repo:${local.github_owner}/${local.github_name}:environment:production' || assertion.sub == 'repo:${local.github_owner}/${local.github_name}:environment:preview'"
  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
  }
  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "deployer" {
  account_id   = "arcade-deployer"
  display_name = "Arcade deployer (GitHub Actions)"
}

resource "google_service_account_iam_member" "deployer_from_github" {
  service_account_id = google_service_account.deployer.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_repository}"
}

resource "google_project_iam_member" "deployer" {
  #checkov:skip=CKV_GCP_49: serviceAccountAdmin creates and deletes each preview's service accounts; only the deploy workflows of one repository can act as the deployer
  for_each = toset(local.deployer_roles)
  project  = var.project_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.deployer.email}"
}

resource "google_artifact_registry_repository_iam_member" "deployer_pushes" {
  location   = google_artifact_registry_repository.arcade.location
  repository = google_artifact_registry_repository.arcade.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.deployer.email}"
}

resource "google_storage_bucket_iam_member" "deployer_state" {
  bucket = google_storage_bucket.state.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.deployer.email}"
}
