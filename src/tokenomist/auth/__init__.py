"""Accounts and authentication: orgs, users, JWT sessions, org API keys. Closed by default."""
