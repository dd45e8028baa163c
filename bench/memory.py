"""Peak resident memory of a region of a benchmark, shared by the benchmark scripts."""

from __future__ import annotations

import resource
from pathlib import Path

__all__ = ["PeakRss"]


class PeakRss:
    """Peak resident memory (MB) of this process over a ``with`` region: VmHWM after resetting it
    through /proc/self/clear_refs, else (no procfs) the process's lifetime ru_maxrss."""

    def __enter__(self) -> "PeakRss":
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.method = "VmHWM over the region"
        except OSError:
            self.method = "ru_maxrss of the whole process"
        self.start_mb = _status_kb("VmRSS") / 1024
        return self

    def __exit__(self, *exc: object) -> None:
        if self.method.startswith("VmHWM"):
            self.peak_mb = _status_kb("VmHWM") / 1024
        else:
            self.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def cell(self) -> str:
        """``peak (+growth over the start)`` in MB, for a table cell."""
        return f"{self.peak_mb:.0f} (+{max(self.peak_mb - self.start_mb, 0.0):.0f})"


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0
