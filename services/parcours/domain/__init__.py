"""The write model: aggregates, their events and the rules of child-protection law."""
