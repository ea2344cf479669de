"""``judge0-operator status`` / ``kubectl judge0 status``: Judge0Fleets at a glance in a terminal.

``view`` turns fleet objects into plain data (pure), ``render`` draws it with rich (or as plain
text), ``cli`` reads the fleets from any kubeconfig and refreshes with ``--watch``.
"""
