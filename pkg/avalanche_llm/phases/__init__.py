"""The phases as runlab stages (``jobs/avalanche_llm.yaml``): S01 prepare, S02 gain sweep, S03 rasters,
S04 metrics, S05 analysis. Each reads its config and upstream runs and writes through its run."""
