# Every role runs the one image (Dockerfile) with its role as the argument:
#   web     Cloud Run service: WebSockets over HTTP/1.1, session affinity, one-hour requests
#   worker  Cloud Run worker pool: always on, no requests, worker_instances instances
#   beat    Cloud Run worker pool of exactly one instance
#   migrate, manage   Cloud Run jobs, run by the deploy workflow and by hand (docs/deploy.md)

locals {
  origins = [for host in local.allowed_hosts : "https://${host}"]

  # Settings every role shares; secrets come from Secret Manager (secrets.tf).
  env = {
    DEBUG                 = "false"
    ALLOWED_HOSTS         = join(",", local.allowed_hosts)
    CSRF_TRUSTED_ORIGINS  = join(",", local.origins)
    ARCADE_STORAGE_BUCKET = google_storage_bucket.recordings.name
    GS_PROJECT_ID         = var.project_id
    GS_QUERYSTRING_AUTH   = "true"
    GS_IAM_SIGN_BLOB      = "true"
    # Cloud Run's front end terminates TLS, says so in X-Forwarded-Proto and appends the
    # client's address to X-Forwarded-For.
    ARCADE_BEHIND_TLS_PROXY = "true"
    ARCADE_PROXY_COUNT      = "1"
    LOG_LEVEL               = "INFO"
    LOG_FORMAT              = "json" # one JSON object a line, severity as Cloud Logging reads it
  }
  role_env = {
    web = {
      ARCADE_WEB_PROCESSES = tostring(var.web_cpu)
      # Each process starts at most this many games; Cloud Run's concurrency matches.
      ARCADE_MAX_SESSIONS_PER_PROCESS = tostring(var.web_sessions_per_core)
    }
    worker = { ARCADE_WORKER_CONCURRENCY = tostring(var.worker_concurrency) }
    beat   = {}
    jobs   = {}
  }
}

# --- web --------------------------------------------------------------------------------------
resource "google_cloud_run_v2_service" "web" {
  name                = "${local.name}-web"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = local.is_production

  template {
    service_account       = google_service_account.role["web"].email
    execution_environment = "EXECUTION_ENVIRONMENT_GEN2"
    # A play session is one WebSocket request: it may last an hour, and a player who
    # reconnects should land on the instance that holds their game.
    timeout                          = "3600s"
    session_affinity                 = true
    max_instance_request_concurrency = local.web_concurrency

    scaling {
      min_instance_count = local.web_min_instances
      max_instance_count = local.web_max_instances
    }

    vpc_access {
      network_interfaces {
        network    = google_compute_network.main.id
        subnetwork = google_compute_subnetwork.run.id
      }
      egress = "PRIVATE_RANGES_ONLY"
    }

    containers {
      image = var.image
      args  = ["web"]

      # http1: Cloud Run carries WebSockets over HTTP/1.1 (h2c would not upgrade).
      ports {
        name           = "http1"
        container_port = 8000
      }

      resources {
        limits = {
          cpu    = tostring(var.web_cpu)
          memory = var.web_memory
        }
        # Game loops tick between requests' bytes: the CPU must never be throttled.
        cpu_idle          = false
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = merge(local.env, local.role_env.web)
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = toset(local.roles.web)
        content {
          name = env.value
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.app[env.value].secret_id
              version = google_secret_manager_secret_version.app[env.value].version
            }
          }
        }
      }

      # Ready once the database and Redis answer and start states are in stock.
      startup_probe {
        http_get {
          path = "/readyz"
          port = 8000
        }
        period_seconds    = 5
        timeout_seconds   = 4
        failure_threshold = 24
      }
      # Alive means serving: a database outage is not cured by restarting the web role.
      liveness_probe {
        http_get {
          path = "/livez"
          port = 8000
        }
        period_seconds    = 15
        timeout_seconds   = 5
        failure_threshold = 3
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.role]
}

# --- worker and beat ----------------------------------------------------------------------------
locals {
  pools = {
    worker = { instances = local.worker_instances, cpu = var.worker_cpu, memory = var.worker_memory }
    # Exactly one: two beats would send every scheduled task twice.
    beat = { instances = 1, cpu = "1", memory = "512Mi" }
  }
}

resource "google_cloud_run_v2_worker_pool" "role" {
  for_each            = local.pools
  name                = "${local.name}-${each.key}"
  location            = var.region
  deletion_protection = local.is_production

  scaling {
    scaling_mode          = "MANUAL"
    manual_instance_count = each.value.instances
  }

  template {
    service_account = google_service_account.role[each.key].email

    vpc_access {
      network_interfaces {
        network    = google_compute_network.main.id
        subnetwork = google_compute_subnetwork.run.id
      }
      egress = "PRIVATE_RANGES_ONLY"
    }

    containers {
      image = var.image
      args  = [each.key]

      resources {
        limits = {
          cpu    = each.value.cpu
          memory = each.value.memory
        }
      }

      dynamic "env" {
        for_each = merge(local.env, local.role_env[each.key])
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = toset(local.roles[each.key])
        content {
          name = env.value
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.app[env.value].secret_id
              version = google_secret_manager_secret_version.app[env.value].version
            }
          }
        }
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.role]
}

# --- jobs: migrations before each deploy, management commands by hand --------------------------
locals {
  jobs = {
    migrate = ["migrate"]
    # Replace the arguments at execution: --args=manage,createsuperuser,--noinput,--email=...
    manage = ["manage", "check", "--deploy"]
  }
}

resource "google_cloud_run_v2_job" "role" {
  for_each            = local.jobs
  name                = "${local.name}-${each.key}"
  location            = var.region
  deletion_protection = local.is_production

  template {
    task_count = 1

    template {
      service_account = google_service_account.role["jobs"].email
      timeout         = "3600s"
      max_retries     = 0

      vpc_access {
        network_interfaces {
          network    = google_compute_network.main.id
          subnetwork = google_compute_subnetwork.run.id
        }
        egress = "PRIVATE_RANGES_ONLY"
      }

      containers {
        image = var.image
        args  = each.value

        resources {
          limits = {
            cpu    = "1"
            memory = "2Gi"
          }
        }

        dynamic "env" {
          for_each = local.env
          content {
            name  = env.key
            value = env.value
          }
        }
        dynamic "env" {
          for_each = toset(local.roles.jobs)
          content {
            name = env.value
            value_source {
              secret_key_ref {
                secret  = google_secret_manager_secret.app[env.value].secret_id
                version = google_secret_manager_secret_version.app[env.value].version
              }
            }
          }
        }
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.role]
}
