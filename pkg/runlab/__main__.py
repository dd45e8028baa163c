"""``python -m runlab`` is the ``runlab`` command."""

import sys

from .cli import main

sys.exit(main())
