# Secrets in Secret Manager, made here; each role's service account reads only those it needs
# (iam.tf), and Cloud Run hands them to the container as environment variables.

resource "random_password" "secret_key" {
  length  = 64
  special = false
}

# Keys every pseudonym in the exported datasets: never replaced once made.
resource "random_password" "pseudonym_key" {
  length  = 64
  special = false
}

# Prometheus scrapes of /metrics send it as a bearer token; required when DEBUG is false.
resource "random_password" "metrics_token" {
  length  = 48
  special = false
}

# The first administrator's password (docs/deploy.md: `manage createsuperuser`).
resource "random_password" "admin" {
  length  = 24
  special = false
}

locals {
  database_url = format(
    "postgres://%s:%s@%s:5432/%s?sslmode=require",
    google_sql_user.arcade.name,
    random_password.db.result,
    google_sql_database_instance.main.private_ip_address,
    google_sql_database.arcade.name,
  )
  redis_url = format(
    "redis://:%s@%s:%d/0",
    google_redis_instance.main.auth_string,
    google_redis_instance.main.host,
    google_redis_instance.main.port,
  )
  secret_names = ["SECRET_KEY", "ARCADE_PSEUDONYM_KEY", "ARCADE_METRICS_TOKEN", "DATABASE_URL", "REDIS_URL", "DJANGO_SUPERUSER_PASSWORD"]
  secrets = {
    SECRET_KEY                = random_password.secret_key.result
    ARCADE_PSEUDONYM_KEY      = random_password.pseudonym_key.result
    ARCADE_METRICS_TOKEN      = random_password.metrics_token.result
    DATABASE_URL              = local.database_url
    REDIS_URL                 = local.redis_url
    DJANGO_SUPERUSER_PASSWORD = random_password.admin.result
  }
}

resource "google_secret_manager_secret" "app" {
  for_each  = toset(local.secret_names)
  secret_id = "${local.name}-${lower(replace(each.value, "_", "-"))}"
  labels    = local.labels

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }
}

resource "google_secret_manager_secret_version" "app" {
  for_each    = google_secret_manager_secret.app
  secret      = each.value.id
  secret_data = local.secrets[each.key]
}
