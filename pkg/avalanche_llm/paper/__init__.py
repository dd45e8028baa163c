"""Paper-ready renderings of the study's tables, made from the same rows as their CSV and parquet."""
