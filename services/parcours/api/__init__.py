"""The command API of API.md and the write side's reads (read-your-writes)."""
