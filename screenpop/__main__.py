"""``python -m screenpop`` is the ``screenpop`` command."""

import sys

from screenpop.cli import main

sys.exit(main())
