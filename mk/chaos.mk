# `make chaos`: the crash-point sweep and every fault class of the real APIs against the real
# operator process, as a table (minutes, like `make bench`; never asserted by time). The CI subset
# (`chaos --quick`) runs inside `make test` (tests/e2e/test_e2e_chaos.py).
.PHONY: chaos chaos-quick

## chaos: judge0-operator chaos --report chaos-report.json --markdown chaos-report.md (ARGS="--only rollout" to narrow it)
chaos: $(STAMP)
	JUDGE0_OPERATOR_LOOPBACK_ONLY=1 $(VENV)/bin/judge0-operator chaos --report chaos-report.json --markdown chaos-report.md $(ARGS)

## chaos-quick: the CI subset alone
chaos-quick: $(STAMP)
	JUDGE0_OPERATOR_LOOPBACK_ONLY=1 $(VENV)/bin/judge0-operator chaos --quick $(ARGS)
