"""AWS plumbing shared by the observer and the actuators: clients, error classes, circuit breakers, budgets."""
