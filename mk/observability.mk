# The Grafana dashboard the chart ships is generated from judge0_operator/telemetry/dashboard/
# (tests/unit/test_dashboard.py fails while the committed JSON is stale).
DASHBOARD_JSON := charts/judge0-operator/dashboards/judge0-operator.json

.PHONY: dashboard
## dashboard: regenerate the chart's Grafana dashboard JSON
dashboard: | $(STAMP)
	$(VENV)/bin/python -m judge0_operator.telemetry.dashboard --output $(DASHBOARD_JSON)
