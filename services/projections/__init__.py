"""Read models for caseworkers, managers and auditors, fed from Kafka or the store's log, and the read API."""
