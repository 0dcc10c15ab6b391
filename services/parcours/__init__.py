"""The write side: the domain model, the application on the event store, the command API."""
