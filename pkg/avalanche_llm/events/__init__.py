"""Events: baseline standardization, spikes at a threshold, and rate-matched spikes."""

from .rate_match import RateMatch, rate_matched_spikes
from .spike import spike_mask
from .standardize import BaselineStats, standardize

__all__ = ["BaselineStats", "RateMatch", "rate_matched_spikes", "spike_mask", "standardize"]
