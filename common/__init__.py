"""The shared kit: what servers and clients both use (config loading, identity, redaction,
header names, one "backend unavailable" error). It imports nothing from `autodevops.servers`
or `autodevops.clients`."""
