"""``runlab monitor``: a read-only web view of one runs root, live as records change on disk.

Modules: ``records`` (a run record read and validated, or why not), ``index`` (rows of every run, cached by
record mtime and size), ``files`` (which files of a run may be served), ``preview`` (first rows of a table
artifact), ``heatmap`` (an HDF5 grid as a PNG, in bounded memory), ``render`` (HTML), ``events`` (the
stat-scan change feed as server-sent events, at most ``MAX_STREAMS`` at once), ``app`` (routes),
``serve`` (the uvicorn server, with its request timeout, or on a private Unix socket).
"""

from .app import create_app
from .serve import serve

__all__ = ["create_app", "serve"]
