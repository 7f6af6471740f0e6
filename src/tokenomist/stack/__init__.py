"""A local multi-instance stack: N ``tokenomist serve`` processes behind HAProxy (DESIGN §8,
§11)."""
