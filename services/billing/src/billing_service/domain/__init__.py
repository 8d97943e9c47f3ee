"""Pure ledger rules: no I/O, no framework. Everything here is decided from values alone."""
