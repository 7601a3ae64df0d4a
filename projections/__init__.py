"""Read models over the ledger: who accessed what footage when, and violations of the regulation."""
