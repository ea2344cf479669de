"""Observers: EC2 (batched per region, cached) and Judge0 (async HTTP probes)."""
