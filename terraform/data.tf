# PostgreSQL (Cloud SQL) and Redis (Memorystore), private to the environment's network.

resource "random_id" "db_suffix" {
  # A deleted instance's name is reserved for a week; previews come and go faster.
  byte_length = 2
}

resource "google_sql_database_instance" "main" {
  #checkov:skip=CKV_GCP_6: ENCRYPTED_ONLY refuses every connection without TLS (DATABASE_URL has sslmode=require); client certificates would need key files in every container, and only the private network reaches the instance
  #checkov:skip=CKV_GCP_79: PostgreSQL 17 is the newest major version Django 5.2 supports, and the one docker-compose.yml and CI run
  name                = "${local.name}-${random_id.db_suffix.hex}"
  region              = var.region
  database_version    = "POSTGRES_17"
  deletion_protection = local.is_production

  settings {
    tier                        = local.db_tier
    edition                     = "ENTERPRISE"
    availability_type           = local.is_production ? "REGIONAL" : "ZONAL"
    disk_type                   = "PD_SSD"
    disk_size                   = var.db_disk_gb
    disk_autoresize             = true
    deletion_protection_enabled = local.is_production
    user_labels                 = local.labels

    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.main.id
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = local.is_production
      start_time                     = "02:00"
      backup_retention_settings {
        retained_backups = local.is_production ? 14 : 1
      }
    }

    maintenance_window {
      day  = 7
      hour = 3
    }

    insights_config {
      query_insights_enabled = true
    }

    # What the CIS benchmark asks of PostgreSQL's logging.
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_duration"
      value = "on"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
    # Every web process, worker process and job holds connections of its own.
    database_flags {
      name  = "max_connections"
      value = "400"
    }
  }

  depends_on = [google_service_networking_connection.services]
}

resource "google_sql_database" "arcade" {
  name     = "arcade"
  instance = google_sql_database_instance.main.name
}

resource "random_password" "db" {
  length  = 40
  special = false
}

resource "google_sql_user" "arcade" {
  name     = "arcade"
  instance = google_sql_database_instance.main.name
  password = random_password.db.result
}

resource "google_redis_instance" "main" {
  #checkov:skip=CKV_GCP_97: in-transit TLS needs the instance's CA in every client (rediss:// with ssl_ca_certs), which settings.py does not wire yet; traffic stays inside the private network and AUTH is on
  name               = local.name
  region             = var.region
  tier               = local.is_production ? "STANDARD_HA" : "BASIC"
  memory_size_gb     = var.redis_memory_gb
  redis_version      = "REDIS_7_2"
  authorized_network = google_compute_network.main.id
  connect_mode       = "PRIVATE_SERVICE_ACCESS"
  auth_enabled       = true
  labels             = local.labels

  redis_configs = {
    # Celery's queues and chunks waiting for a worker must never be evicted: a full Redis
    # should refuse writes (and page someone), not drop recordings.
    "maxmemory-policy" = "noeviction"
  }

  maintenance_policy {
    weekly_maintenance_window {
      day = "SUNDAY"
      start_time {
        hours   = 3
        minutes = 0
      }
    }
  }

  depends_on = [google_service_networking_connection.services]
}
