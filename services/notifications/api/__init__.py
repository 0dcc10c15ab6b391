"""The notifications service's HTTP API."""
