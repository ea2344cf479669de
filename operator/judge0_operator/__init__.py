"""judge0-operator: keeps fleets of EC2 instances running Judge0 healthy and correctly sized."""

__version__ = "0.1.0"
