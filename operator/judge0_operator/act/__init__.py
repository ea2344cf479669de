"""Actuators: turn planned actions into idempotent, guarded AWS calls."""
