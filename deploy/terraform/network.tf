# The network path the old platform got wrong: its Serverless VPC connector's range did not
# reach Memorystore. Here every private endpoint Cloud Run talks to is on ONE network
# (google_compute_network.main):
#   Cloud Run --(vpc_access, egress PRIVATE_RANGES_ONLY)--> connector 10.8.0.0/28 on main
#   main --(service networking peering, range 10.20.0.0/20)--> Memorystore and Cloud SQL
# Memorystore uses connect_mode PRIVATE_SERVICE_ACCESS with authorized_network = main, so its
# address comes from the peered range, which the connector's network routes to; Cloud SQL's
# private IP comes from the same range. PRIVATE_RANGES_ONLY sends RFC 1918 destinations
# (both ranges above) through the connector and everything else (the ClickHouse server, an LLM
# API) straight out. tests/deploy/test_terraform.py checks these links stay consistent.

resource "google_compute_network" "main" {
  name                    = var.network_name
  auto_create_subnetworks = false
}

# Nothing enters the network from outside: the connector and the peered services only make
# outbound connections from it. (The connector's own health-check rules, created by Google,
# have a higher priority than this one.)
resource "google_compute_firewall" "deny_ingress" {
  name      = "${var.network_name}-deny-ingress"
  network   = google_compute_network.main.name
  direction = "INGRESS"
  priority  = 65534
  deny {
    protocol = "all"
  }
  source_ranges = ["0.0.0.0/0"]
}

resource "google_compute_global_address" "services" {
  name          = "${var.network_name}-google-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  address       = var.services_cidr_address
  prefix_length = var.services_cidr_prefix
  network       = google_compute_network.main.id
}

resource "google_service_networking_connection" "services" {
  network                 = google_compute_network.main.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.services.name]
}

resource "google_vpc_access_connector" "main" {
  name          = "tokenomist-connector"
  region        = var.region
  network       = google_compute_network.main.name
  ip_cidr_range = var.connector_cidr
  min_instances = 2
  max_instances = 4
  machine_type  = "e2-micro"
}
