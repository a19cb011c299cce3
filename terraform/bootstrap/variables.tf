variable "project_id" {
  description = "The Google Cloud project that hosts every Arcade environment."
  type        = string
}

variable "region" {
  description = "Region of the state bucket and the Artifact Registry repository; use the environments' region."
  type        = string
  default     = "europe-west1"
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose workflows may deploy (the only one the identity pool trusts)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository is owner/name, e.g. example-lab/arcade."
  }
}
