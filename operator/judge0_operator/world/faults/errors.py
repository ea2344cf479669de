"""How a fault request fails: its own module so the catalogue, the registry and every API that
takes faults (control, chaos, scenarios) raise and catch the same two errors."""


class FaultError(ValueError):
    """A fault request the world refuses (unknown fault or target, wrong target kind, bad params)."""


class FaultNotFound(KeyError):
    """No active fault has this id."""
