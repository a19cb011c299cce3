# A private network per environment: Cloud Run reaches Cloud SQL and Memorystore on private
# addresses through Direct VPC egress; neither has a public address.

resource "google_compute_network" "main" {
  name                    = local.name
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "run" {
  name          = "${local.name}-run"
  network       = google_compute_network.main.id
  region        = var.region
  ip_cidr_range = "10.20.0.0/22" # Direct VPC egress takes about two addresses per instance
  # Artifact Registry, Cloud Storage and Secret Manager without a public route.
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.1
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Nothing comes in from outside: Cloud Run's instances only dial out, and the peered
# services answer on the connections they open.
resource "google_compute_firewall" "deny_ingress" {
  name      = "${local.name}-deny-ingress"
  network   = google_compute_network.main.id
  direction = "INGRESS"
  priority  = 65534

  deny {
    protocol = "all"
  }
  source_ranges = ["0.0.0.0/0"]

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# Cloud SQL and Memorystore live in Google's network, peered into ours.
resource "google_compute_global_address" "services" {
  name          = "${local.name}-services"
  network       = google_compute_network.main.id
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 20
}

resource "google_service_networking_connection" "services" {
  network                 = google_compute_network.main.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.services.name]
}
