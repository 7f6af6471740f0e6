"""Budgets, alert channels, alert events and their delivery, spend forecasts."""
