"""Adapters every service shares: config, database, Vault crypto, audit, identity, telemetry, gRPC."""
