"""The read API of API.md: dossiers, worklists, steering, audit, statistics."""
