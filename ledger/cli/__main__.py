"""``python -m ledger.cli``: the ``liuhen`` command."""

import sys

from ledger.cli import main

sys.exit(main())
