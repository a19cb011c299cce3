# One service account per role, each allowed only what that role does:
#
#   role    secrets                                              bucket
#   web     SECRET_KEY, PSEUDONYM_KEY, DATABASE_URL, REDIS_URL    read and write objects; signs links
#   worker  SECRET_KEY, PSEUDONYM_KEY, DATABASE_URL, REDIS_URL    read and write objects
#   beat    SECRET_KEY, PSEUDONYM_KEY, REDIS_URL                  none (it only sends tasks)
#   (and every role ARCADE_METRICS_TOKEN: settings require it when DEBUG is false)
#   jobs    all of the above and the admin's password             read and write objects (exports)
#
# None has a project-wide role: every grant is on the one secret or bucket it needs.

locals {
  roles = {
    web    = ["SECRET_KEY", "ARCADE_PSEUDONYM_KEY", "ARCADE_METRICS_TOKEN", "DATABASE_URL", "REDIS_URL"]
    worker = ["SECRET_KEY", "ARCADE_PSEUDONYM_KEY", "ARCADE_METRICS_TOKEN", "DATABASE_URL", "REDIS_URL"]
    beat   = ["SECRET_KEY", "ARCADE_PSEUDONYM_KEY", "ARCADE_METRICS_TOKEN", "REDIS_URL"]
    jobs   = ["SECRET_KEY", "ARCADE_PSEUDONYM_KEY", "ARCADE_METRICS_TOKEN", "DATABASE_URL", "REDIS_URL", "DJANGO_SUPERUSER_PASSWORD"]
  }
  secret_grants = {
    for pair in flatten([
      for role, names in local.roles : [for name in names : { role = role, name = name }]
    ]) : "${pair.role}/${pair.name}" => pair
  }
  bucket_users = ["web", "worker", "jobs"]
}

resource "google_service_account" "role" {
  for_each     = local.roles
  account_id   = substr("${local.name}-${each.key}", 0, 30)
  display_name = "Arcade ${local.environment}: ${each.key}"
}

resource "google_secret_manager_secret_iam_member" "role" {
  for_each  = local.secret_grants
  secret_id = google_secret_manager_secret.app[each.value.name].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.role[each.value.role].email}"
}

resource "google_storage_bucket_iam_member" "role" {
  for_each = toset(local.bucket_users)
  bucket   = google_storage_bucket.recordings.name
  role     = "roles/storage.objectUser"
  member   = "serviceAccount:${google_service_account.role[each.value].email}"
}

# The deployer (terraform/bootstrap) may deploy Cloud Run as these accounts, and only these.
resource "google_service_account_iam_member" "deployer_acts_as" {
  for_each           = local.roles
  service_account_id = google_service_account.role[each.key].name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${var.deployer_service_account}"
}

# Signed links to recordings and thumbnails: on Cloud Run there is no key file, so the web
# role signs through the IAM signBlob API as itself (django-storages' GS_IAM_SIGN_BLOB).
resource "google_service_account_iam_member" "web_signs_as_itself" {
  service_account_id = google_service_account.role["web"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.role["web"].email}"
}

# Anyone may open the site; Django authenticates players and the admin.
resource "google_cloud_run_v2_service_iam_member" "public" {
  #checkov:skip=CKV_GCP_102: the web role is the public website; Django does the authentication
  name     = google_cloud_run_v2_service.web.name
  location = google_cloud_run_v2_service.web.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}
