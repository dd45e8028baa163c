"""The IRER evolutionary hunt (seed 001), run as runlab jobs."""
