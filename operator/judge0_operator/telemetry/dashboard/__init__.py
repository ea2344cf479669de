"""The Grafana dashboard the chart ships: the panel catalogue (``panels``), its vocabulary
(``model``) and the JSON builder (``build``); ``python -m judge0_operator.telemetry.dashboard
--output FILE`` writes it."""
