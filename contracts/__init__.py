"""What other systems rely on: public event payloads, the CloudEvents envelope, schemas (issue 3)."""
