"""Tests of the avalanche_llm study."""
