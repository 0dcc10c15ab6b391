"""The notifications API of API.md: the alerts' inbox (and, beside it, subscriptions and recipients)."""
