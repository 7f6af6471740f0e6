output "url" {
  description = "The service's HTTPS URL (tokenomist verify --target <url>)."
  value       = google_cloud_run_v2_service.api.uri
}

output "redis_host" {
  description = "Memorystore's private address (inside the peered services range)."
  value       = google_redis_instance.bus.host
}

output "database_private_ip" {
  description = "Cloud SQL's private address (inside the peered services range)."
  value       = google_sql_database_instance.main.private_ip_address
}
