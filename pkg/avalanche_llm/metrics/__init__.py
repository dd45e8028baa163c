"""Numerical metrics of activity series: branching ratios, avalanches, discrete power laws, crackling noise."""
