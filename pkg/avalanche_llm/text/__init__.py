"""The text the model reads: corpus sources and the deterministic slice of token windows."""
