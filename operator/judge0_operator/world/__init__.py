"""The simulated world: EC2/SSM (moto + the world's additions), Judge0 nodes and a Kubernetes API, on loopback."""
