"""The EMNIST discrete margin repair study (seed 000), run as runlab jobs."""
