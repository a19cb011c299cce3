# Every environment takes the same variables; previews (workspaces pr-N) override the sizes in
# main.tf. docs/deploy.md explains how the sizes follow from the benchmark.

variable "project_id" {
  description = "Google Cloud project of the environment (the one terraform/bootstrap was applied to)."
  type        = string
}

variable "region" {
  description = "Region of every regional resource: Cloud Run, Cloud SQL, Memorystore, the bucket."
  type        = string
  default     = "europe-west1"
}

variable "image" {
  description = "The image every role runs, REGION-docker.pkg.dev/PROJECT/arcade/arcade@sha256:... (CI passes the digest it pushed)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]+-docker\\.pkg\\.dev/.+", var.image))
    error_message = "image must be in Artifact Registry (REGION-docker.pkg.dev/...)."
  }
}

variable "deployer_service_account" {
  description = "Email of the account that applies this configuration (terraform/bootstrap's deployer_service_account output); it may act as this environment's service accounts."
  type        = string
}

variable "domains" {
  description = "Extra host names that serve Arcade (a custom domain mapped to the web service), added to ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS."
  type        = list(string)
  default     = []
}

# --- web: Cloud Run service --------------------------------------------------------------
variable "web_cpu" {
  description = "vCPUs per web instance; the instance runs one web process per vCPU."
  type        = number
  default     = 2

  validation {
    condition     = contains([1, 2, 4, 6, 8], var.web_cpu)
    error_message = "web_cpu is one of Cloud Run's sizes: 1, 2, 4, 6 or 8."
  }
}

variable "web_memory" {
  description = "Memory per web instance: about 0.27 GB per process (with its seeding helper) plus 7.4 MB per live session."
  type        = string
  default     = "2Gi"
}

variable "web_sessions_per_core" {
  description = "Live play sessions one web process (one core) starts at most (its seat cap, ARCADE_MAX_SESSIONS_PER_PROCESS); the benchmark passes its bar at 25 to 30 per process on a shared 2-core machine."
  type        = number
  default     = 30

  validation {
    condition     = var.web_sessions_per_core >= 1 && var.web_sessions_per_core <= 60
    error_message = "web_sessions_per_core is between 1 and 60 (60 already misses the frame-interval bar)."
  }
}

variable "web_min_instances" {
  description = "Web instances kept running (at least 1: a cold start would delay the first player by seconds)."
  type        = number
  default     = 1

  validation {
    condition     = var.web_min_instances >= 1
    error_message = "web_min_instances is at least 1."
  }
}

variable "web_max_instances" {
  description = "Upper bound on web instances; capacity is web_max_instances x web_cpu x web_sessions_per_core sessions."
  type        = number
  default     = 10
}

# --- worker and beat: Cloud Run worker pools ---------------------------------------------
variable "worker_instances" {
  description = "Celery worker instances (always on). One worker core stores and replay-verifies about 150 live sessions (docs/deploy.md)."
  type        = number
  default     = 2
}

variable "worker_concurrency" {
  description = "Celery processes per worker instance (ARCADE_WORKER_CONCURRENCY); one per vCPU."
  type        = number
  default     = 2
}

variable "worker_cpu" {
  description = "vCPUs per worker instance."
  type        = string
  default     = "2"
}

variable "worker_memory" {
  description = "Memory per worker instance (replay verification builds emulators: about 0.5 GiB per process)."
  type        = string
  default     = "2Gi"
}

# --- data ----------------------------------------------------------------------------------
variable "db_tier" {
  description = "Cloud SQL machine type in production (previews use db-g1-small)."
  type        = string
  default     = "db-custom-2-7680"
}

variable "db_disk_gb" {
  description = "Initial Cloud SQL disk; it grows by itself. Transitions take about 100 bytes a step: 20 GB holds about 50 hours of 60 fps play."
  type        = number
  default     = 20
}

variable "redis_memory_gb" {
  description = "Memorystore size. Chunks wait there for a worker (about 4 KB per session-second while workers lag) beside Celery's queues and the channel layer."
  type        = number
  default     = 1
}

variable "exports_retention_days" {
  description = "Days a dataset export (objects under exports/) is kept; exports can be made again from the recordings."
  type        = number
  default     = 30
}

variable "recordings_nearline_after_days" {
  description = "Days after which recordings move to the Nearline storage class (read rarely: exports and replays)."
  type        = number
  default     = 90
}

variable "preview_retention_days" {
  description = "Days a preview environment keeps any object (previews hold test data only)."
  type        = number
  default     = 7
}
