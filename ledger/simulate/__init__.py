"""ledger/simulate."""
