output "state_bucket" {
  description = "Give it to `terraform init -backend-config=bucket=...` in terraform/ (and to the GitHub variable TF_STATE_BUCKET)."
  value       = google_storage_bucket.state.name
}

output "image_repository" {
  description = "Where images are pushed: REGION-docker.pkg.dev/PROJECT/arcade (the GitHub variable ARTIFACT_REPOSITORY)."
  value       = "${google_artifact_registry_repository.arcade.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.arcade.repository_id}"
}

output "workload_identity_provider" {
  description = "The GitHub variable GCP_WORKLOAD_IDENTITY_PROVIDER, for google-github-actions/auth."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "deployer_service_account" {
  description = "The GitHub variable GCP_SERVICE_ACCOUNT: the identity the workflows deploy as."
  value       = google_service_account.deployer.email
}
