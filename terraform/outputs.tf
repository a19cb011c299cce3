output "environment" {
  description = "The environment this workspace holds (production or pr-N)."
  value       = local.environment
}

output "url" {
  description = "Where the environment is served (Cloud Run's address; map a domain to it and list it in var.domains)."
  value       = google_cloud_run_v2_service.web.uri
}

output "web_service" {
  description = "Name of the web role's Cloud Run service."
  value       = google_cloud_run_v2_service.web.name
}

output "migrate_job" {
  description = "Run before serving a new image: gcloud run jobs execute NAME --region REGION --wait."
  value       = google_cloud_run_v2_job.role["migrate"].name
}

output "manage_job" {
  description = "Runs one management command: gcloud run jobs execute NAME --args=manage,COMMAND,... --wait."
  value       = google_cloud_run_v2_job.role["manage"].name
}

output "worker_pools" {
  description = "The worker and beat worker pools."
  value       = { for role, pool in google_cloud_run_v2_worker_pool.role : role => pool.name }
}

output "bucket" {
  description = "The bucket for recordings, thumbnails and exports (ARCADE_STORAGE_BUCKET)."
  value       = google_storage_bucket.recordings.name
}

output "admin_password_secret" {
  description = "Secret Manager secret with the first administrator's password: gcloud secrets versions access latest --secret NAME."
  value       = google_secret_manager_secret.app["DJANGO_SUPERUSER_PASSWORD"].secret_id
}

output "database_instance" {
  description = "Cloud SQL instance (private address only)."
  value       = google_sql_database_instance.main.name
}

output "capacity_sessions" {
  description = "Live sessions the web role holds at its maximum size: instances x vCPUs x sessions per core."
  value       = local.web_max_instances * local.web_concurrency
}
