"""Rasters: sparse spike rasters per layer, their lagged activity cross-correlation, and null rasters."""

from .build import Raster, as_bounds, total_activity
from .cc import activity_cross_correlation
from .nulls import NULLS, both_marginals_shuffle, bin_unit_shuffle, marginals_kept, unit_time_shuffle

__all__ = ["NULLS", "Raster", "activity_cross_correlation", "as_bounds", "both_marginals_shuffle", "bin_unit_shuffle",
           "marginals_kept", "total_activity", "unit_time_shuffle"]
