"""The client side of the world: load-balancer fronts, a Service resolver and a student load."""
