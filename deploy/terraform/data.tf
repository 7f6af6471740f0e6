resource "google_redis_instance" "bus" {
  name               = "tokenomist-bus"
  region             = var.region
  tier               = "STANDARD_HA"
  memory_size_gb     = var.redis_memory_gb
  redis_version      = "REDIS_7_2"
  authorized_network = google_compute_network.main.id
  connect_mode       = "PRIVATE_SERVICE_ACCESS"
  reserved_ip_range  = google_compute_global_address.services.name
  auth_enabled       = true
  # checkov:skip=CKV_GCP_97: Memorystore's in-transit encryption needs clients to trust its own CA, and the app's Redis URL has no setting for a CA file; the traffic never leaves the private VPC path (connector -> peering).
  transit_encryption_mode = "DISABLED"
  # Run events and counters must not be evicted while a run is read (MAXLEN and TTL bound them).
  redis_configs = {
    maxmemory-policy = "volatile-ttl"
  }

  depends_on = [google_service_networking_connection.services]
}

resource "random_password" "database" {
  length  = 32
  special = false
}

resource "google_sql_database_instance" "main" {
  name             = "tokenomist"
  region           = var.region
  database_version = "POSTGRES_16"
  # checkov:skip=CKV_GCP_79: the major version is the one the suite and compose run (16); moving to the newest major is a release of its own, tested first.
  # checkov:skip=CKV_GCP_6: ENCRYPTED_ONLY refuses unencrypted connections; TRUSTED_CLIENT_CERTIFICATE_REQUIRED would need client certificates distributed to every instance, which the app's database URL cannot carry, and the only path in is the private VPC one.

  settings {
    tier              = var.database_tier
    availability_type = "REGIONAL"
    disk_autoresize   = true

    ip_configuration {
      # Private IP only, from the peered range the connector's network reaches.
      ipv4_enabled    = false
      private_network = google_compute_network.main.id
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
    }

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
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_min_error_statement"
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
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
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
      name  = "log_error_verbosity"
      value = "default"
    }
  }

  deletion_protection = true
  depends_on          = [google_service_networking_connection.services]
}

resource "google_sql_database" "tokenomist" {
  name     = "tokenomist"
  instance = google_sql_database_instance.main.name
}

resource "google_sql_user" "tokenomist" {
  name     = "tokenomist"
  instance = google_sql_database_instance.main.name
  password = random_password.database.result
}
