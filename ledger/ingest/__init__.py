"""ledger/ingest."""
