locals {
  # Plain settings, shared by the service and the migration job.
  settings = {
    TOKENOMIST_ENVIRONMENT           = "production"
    TOKENOMIST_AUTO_MIGRATE          = "false" # the tokenomist-migrate job applies the schema
    TOKENOMIST_ALLOWED_ORIGINS       = var.allowed_origins
    TOKENOMIST_STARTUP_REQUIRE_CACHE = "true"
    TOKENOMIST_LOG_LEVEL             = "INFO"
  }
}

resource "google_cloud_run_v2_service" "api" {
  name                = "tokenomist"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = false

  template {
    service_account = google_service_account.api.email
    # A WebSocket is one request on Cloud Run: it lasts at most this long, then the client
    # resumes from its last seq (on any instance).
    timeout                          = "3600s"
    max_instance_request_concurrency = 250
    session_affinity                 = false

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    vpc_access {
      connector = google_vpc_access_connector.main.id
      egress    = "PRIVATE_RANGES_ONLY"
    }

    containers {
      image = var.image
      ports {
        container_port = 8000
      }

      dynamic "env" {
        for_each = local.settings
        content {
          name  = env.key
          value = env.value
        }
      }
      # Cloud Run sends SIGTERM and kills the instance 10 s later: the drain bound fits inside.
      env {
        name  = "TOKENOMIST_DRAIN_TIMEOUT_S"
        value = "8"
      }
      env {
        name  = "TOKENOMIST_PORT"
        value = "8000"
      }
      env {
        name  = "TOKENOMIST_HOST"
        value = "0.0.0.0"
      }

      dynamic "env" {
        for_each = local.secrets
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.env[env.key].secret_id
              version = "latest"
            }
          }
        }
      }

      resources {
        limits = {
          cpu    = "2"
          memory = "2Gi"
        }
        cpu_idle = false # the bus's live tails and the alert evaluator run between requests
      }

      startup_probe {
        http_get {
          path = "/health/live"
        }
        period_seconds    = 5
        failure_threshold = 24
      }
      liveness_probe {
        http_get {
          path = "/health/live"
        }
        period_seconds = 15
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.api,
    google_secret_manager_secret_version.env,
  ]
}

# Run before each rollout: gcloud run jobs execute tokenomist-migrate --region REGION --wait
resource "google_cloud_run_v2_job" "migrate" {
  name                = "tokenomist-migrate"
  location            = var.region
  deletion_protection = false

  template {
    template {
      service_account = google_service_account.api.email
      max_retries     = 2
      timeout         = "900s"

      vpc_access {
        connector = google_vpc_access_connector.main.id
        egress    = "PRIVATE_RANGES_ONLY"
      }

      containers {
        image   = var.image
        command = ["tokenomist", "db", "upgrade"]

        dynamic "env" {
          for_each = local.settings
          content {
            name  = env.key
            value = env.value
          }
        }
        dynamic "env" {
          for_each = local.secrets
          content {
            name = env.key
            value_source {
              secret_key_ref {
                secret  = google_secret_manager_secret.env[env.key].secret_id
                version = "latest"
              }
            }
          }
        }
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.api]
}

resource "google_cloud_run_v2_service_iam_member" "public" {
  # The API authenticates every request itself (JWT or API key); Cloud Run lets callers in.
  name     = google_cloud_run_v2_service.api.name
  location = var.region
  role     = "roles/run.invoker"
  member   = "allUsers"
}
