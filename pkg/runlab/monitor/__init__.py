"""``runlab monitor``: a read-only web view of one runs root, live as records change on disk.

Modules: ``index`` (rows of every run, cached by record mtime and size), ``files`` (which files of a run
may be served), ``preview`` (first rows of a table artifact), ``render`` (HTML), ``events`` (the
stat-scan change feed as server-sent events), ``app`` (routes), ``serve`` (the uvicorn server).
"""

from .app import create_app
from .serve import serve

__all__ = ["create_app", "serve"]
