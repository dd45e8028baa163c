"""From measured metrics to decisions and summaries: g*, the metrics table."""
