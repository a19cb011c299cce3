terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # One state per workspace under the bucket terraform/bootstrap made:
  #   terraform init -backend-config=bucket=PROJECT-arcade-tfstate
  backend "gcs" {
    prefix = "arcade"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = local.labels
}
