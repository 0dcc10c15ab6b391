"""The notifications service: the deadline engine's timers, the alerts, and how they reach people."""
