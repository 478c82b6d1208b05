"""``python -m workbench.cli``: the ``workbench`` command without its console script."""

import sys

from workbench.cli import main

sys.exit(main())
