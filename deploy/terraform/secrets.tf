# Everything that carries a credential goes through Secret Manager; the service spec holds
# only references. (Values pass through Terraform state: keep the state in an encrypted,
# access-controlled bucket.)

resource "random_password" "jwt" {
  length  = 64
  special = false
}

locals {
  jwt_secret   = var.jwt_secret != "" ? var.jwt_secret : random_password.jwt.result
  database_url = "postgresql+asyncpg://${google_sql_user.tokenomist.name}:${random_password.database.result}@${google_sql_database_instance.main.private_ip_address}:5432/${google_sql_database.tokenomist.name}?ssl=require"
  redis_url    = "redis://:${google_redis_instance.bus.auth_string}@${google_redis_instance.bus.host}:${google_redis_instance.bus.port}/0"
  secrets = {
    TOKENOMIST_JWT_SECRET     = local.jwt_secret
    TOKENOMIST_DATABASE_URL   = local.database_url
    TOKENOMIST_REDIS_URL      = local.redis_url
    TOKENOMIST_CLICKHOUSE_URL = var.clickhouse_url
  }
}

resource "google_secret_manager_secret" "env" {
  for_each  = local.secrets
  secret_id = lower(replace(each.key, "_", "-"))
  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "env" {
  for_each    = local.secrets
  secret      = google_secret_manager_secret.env[each.key].id
  secret_data = each.value
}

resource "google_service_account" "api" {
  account_id   = "tokenomist-api"
  display_name = "Tokenomist API (Cloud Run)"
}

resource "google_secret_manager_secret_iam_member" "api" {
  for_each  = local.secrets
  secret_id = google_secret_manager_secret.env[each.key].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.api.email}"
}
