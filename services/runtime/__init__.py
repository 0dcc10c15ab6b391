"""Runtime pieces every service shares: settings, logs, authentication, PostgreSQL and Kafka adapters."""
