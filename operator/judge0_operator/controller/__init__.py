"""Kopf wiring: thin handlers (handlers.py) around the observe → decide → act → report pass (reconcile.py)."""
