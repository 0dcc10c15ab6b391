"""The deadline engine: durable timers, alert rules and their delivery (to come)."""
