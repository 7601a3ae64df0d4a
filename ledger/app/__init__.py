"""ledger/app."""
