# The bucket for recordings (episodes/), thumbnails and dataset exports (exports/): private,
# reached only by the service accounts below; browsers get signed links.

resource "google_storage_bucket" "recordings" {
  #checkov:skip=CKV_GCP_62: reads and writes are in Cloud Audit Logs (data access); a second bucket of access logs would double the object count for no use
  name                        = "${var.project_id}-${local.name}"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !local.is_production

  # A recording overwritten or deleted by mistake can be recovered for a month.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age            = var.exports_retention_days
      matches_prefix = ["exports/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age                   = var.recordings_nearline_after_days
      matches_prefix        = ["episodes/"]
      matches_storage_class = ["STANDARD"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  # Previews hold test data only.
  dynamic "lifecycle_rule" {
    for_each = local.is_production ? [] : [var.preview_retention_days]
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }
}
