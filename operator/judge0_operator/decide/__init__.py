"""The pure planner: (spec, policy, observation, previous status, now) → actions, new status, next check.

No I/O and no clock reads in this package: time arrives as an argument, randomness (jitter) is
derived deterministically from the inputs, so every decision can be replayed and tested.
"""
