"""The five agents (DESIGN §6). Each is a module with ``NAME`` and
``async run(ctx, state) -> summary``; the pipeline wraps them in their events."""
