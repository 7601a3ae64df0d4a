"""``python -m ledger.verify``: the auditor's offline verifier."""

import sys

from ledger.verify import main

sys.exit(main())
