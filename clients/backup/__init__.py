"""Backups of the suite's own stores (Scarlet's PostgreSQL, Jamie's MongoDB) and their restore."""
