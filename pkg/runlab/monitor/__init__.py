"""``runlab monitor``: a read-only web view of one runs root, live as records change on disk.

Modules: ``records`` (a run record read and validated, or why not), ``index`` (rows of every run, cached by
record mtime and size), ``files`` (which files of a run may be served), ``preview`` (first rows of a table
artifact), ``heatmap`` (an HDF5 grid as a PNG, in bounded memory), ``render`` (HTML), ``events`` (the
stat-scan change feed as server-sent events, at most ``MAX_STREAMS`` at once), ``app`` (routes),
``serve`` (the uvicorn server, with its request timeout, or on a private Unix socket).

The plug-in API for a study's own pages (an entry point of group ``runlab.monitor``) is what this module
exports besides ``create_app`` and ``serve``; study packages import it from here.
"""

from .app import create_app
from .charts import Mark, Series, line_chart
from .files import NotServable, RunFiles
from .groups import ConfigGroups, GroupView
from .heatmap import NotAGrid, heatmap_of
from .index import RunRow
from .serve import serve
from .studies import StudyContext, StudyMonitor

__all__ = ["ConfigGroups", "GroupView", "Mark", "NotAGrid", "NotServable", "RunFiles", "RunRow", "Series",
           "StudyContext", "StudyMonitor", "create_app", "heatmap_of", "line_chart", "serve"]
