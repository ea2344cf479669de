"""What a person watching the operator looks at, worked out from each pass's status.

``recovery`` (pure) turns two successive status tables into incidents detected and ended;
``fleet`` keeps the little memory that needs per fleet and feeds ``judge0_operator.metrics``;
``dashboard`` builds the Grafana dashboard the chart ships from the panels in ``dashboard.panels``.
"""
