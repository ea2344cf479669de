"""AWS plumbing shared by the observer and the actuators: clients, errors, circuit breakers, budgets."""
