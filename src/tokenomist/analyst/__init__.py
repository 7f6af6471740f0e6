"""The analyst: a pipeline of agents that answers spend questions from the org's own usage
and builds a quantified, priced savings plan (DESIGN §6)."""
