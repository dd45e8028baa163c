"""``python -m avalanche_llm``: the study's phase commands (``CANON.CLI.ENTRYPOINT``)."""

import sys

from .cli import main

sys.exit(main())
