"""Usage: ingestion of LLM usage from every common source, pricing and summaries."""
