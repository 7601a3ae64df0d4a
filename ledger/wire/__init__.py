"""ledger/wire."""
