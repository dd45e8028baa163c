"""Tests that the study's contract names, shipped inside the package."""
