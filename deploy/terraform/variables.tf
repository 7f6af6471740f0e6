variable "project_id" {
  description = "GCP project that holds every resource below."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run service, the VPC connector, Memorystore and Cloud SQL (one region: the connector only reaches its own region)."
  type        = string
  default     = "europe-west1"
}

variable "image" {
  description = "Container image built from deploy/Dockerfile, e.g. europe-west1-docker.pkg.dev/PROJECT/tokenomist/api:0.1.0."
  type        = string
}

variable "clickhouse_url" {
  description = "ClickHouse server HTTP(S) URL with credentials and database, e.g. https://user:password@host:8443/tokenomist. Stored in Secret Manager, never in the service spec."
  type        = string
  sensitive   = true
}

variable "jwt_secret" {
  description = "Signing secret for access and refresh tokens (at least 32 random bytes). Left empty, Terraform generates one."
  type        = string
  sensitive   = true
  default     = ""
}

variable "allowed_origins" {
  description = "Browser origins allowed to open the WebSocket (TOKENOMIST_ALLOWED_ORIGINS), comma-separated."
  type        = string
}

variable "network_name" {
  description = "VPC network that the connector, Memorystore and Cloud SQL's private IP all sit on."
  type        = string
  default     = "tokenomist"
}

# The three private ranges must not overlap each other nor any subnet of the network.
variable "connector_cidr" {
  description = "/28 range of the Serverless VPC Access connector (the source of Cloud Run's egress into the VPC)."
  type        = string
  default     = "10.8.0.0/28"
}

variable "services_cidr_address" {
  description = "Start address of the range reserved for Google-managed services (Memorystore and Cloud SQL, reached over the service networking peering)."
  type        = string
  default     = "10.20.0.0"
}

variable "services_cidr_prefix" {
  description = "Prefix length of the Google-managed services range (/20 fits Memorystore's /29 and Cloud SQL's /24 with room for more)."
  type        = number
  default     = 20
}

variable "min_instances" {
  description = "Cloud Run instances kept warm (live WebSockets resume on another instance when one stops)."
  type        = number
  default     = 2
}

variable "max_instances" {
  description = "Upper bound of Cloud Run instances; each holds up to database_pool_size PostgreSQL connections."
  type        = number
  default     = 10
}

variable "database_tier" {
  description = "Cloud SQL machine tier."
  type        = string
  default     = "db-custom-2-7680"
}

variable "redis_memory_gb" {
  description = "Memorystore capacity: run events (TOKENOMIST_BUS_MAX_EVENTS_PER_RUN per run, kept TOKENOMIST_BUS_TTL_S) and the cache."
  type        = number
  default     = 1
}
