"""The panel catalogue of the Grafana dashboard: one ``Panel`` entry per panel, in rows. Adding a
panel is one entry here; layout, ids, datasource and variables are worked out by ``dashboard.py``."""

from __future__ import annotations

from judge0_operator.telemetry.dashboard.model import FLEET, JOB, Panel, Query, Row, fleet_sel, job_sel, quantiles

NOT_READY = fleet_sel('condition="Ready"', 'status!="True"')
SAFETY_STOPPED = fleet_sel('condition="RemediationAllowed"', 'status="False"')
THROTTLED = job_sel('outcome="throttled"')


ROWS: tuple[Row, ...] = (
    Row(
        "Fleets",
        (
            Panel(
                "Replicas: desired, ready, healthy, in rotation",
                "Desired after scaling rules; ready = running with Judge0's API answering; "
                "healthy = healthy on every signal; in rotation = registered and ready where clients "
                "reach the fleet (spec.traffic).",
                (
                    Query(f"sum by (namespace, fleet) (judge0_operator_fleet_replicas_desired{FLEET})",
                          "{{namespace}}/{{fleet}} desired"),
                    Query(f"sum by (namespace, fleet) (judge0_operator_fleet_replicas_ready{FLEET})",
                          "{{namespace}}/{{fleet}} ready"),
                    Query(f"sum by (namespace, fleet) (judge0_operator_fleet_replicas_healthy{FLEET})",
                          "{{namespace}}/{{fleet}} healthy"),
                    Query(f"sum by (namespace, fleet) (judge0_operator_fleet_in_rotation{FLEET})",
                          "{{namespace}}/{{fleet}} in rotation"),
                ),
                decimals=0,
                min=0,
            ),
            Panel(
                "Unhealthy instances by signal",
                "Instances Unhealthy on each signal (bad for longer than its probe's unhealthyAfterSeconds).",
                (
                    Query(f"sum by (namespace, fleet, signal) (judge0_operator_unhealthy_signals{FLEET})",
                          "{{namespace}}/{{fleet}} {{signal}}"),
                ),
                decimals=0,
                min=0,
                stack=True,
            ),
            Panel(
                "Availability (healthy ÷ desired replica-seconds)",
                "Over the dashboard's time range, as the simulation report defines it: healthy replicas "
                "capped at desired, weighted by time.",
                (
                    Query(
                        "sum by (namespace, fleet) "
                        f"(increase(judge0_operator_fleet_healthy_replica_seconds_total{FLEET}[$__range])) / "
                        "sum by (namespace, fleet) "
                        f"(increase(judge0_operator_fleet_desired_replica_seconds_total{FLEET}[$__range]))",
                        "{{namespace}}/{{fleet}}",
                        instant=True,
                    ),
                ),
                unit="percentunit",
                kind="stat",
                width=8,
                decimals=2,
                min=0,
                max=1,
            ),
            Panel(
                "Fleets not Ready",
                "Fleets whose Ready condition is not True.",
                (
                    Query(
                        "count(judge0_operator_fleet_condition"
                        f"{NOT_READY}) or vector(0)",
                        "not Ready",
                        instant=True,
                    ),
                ),
                kind="stat",
                width=4,
                decimals=0,
                thresholds=((1, "red"),),
            ),
            Panel(
                "Safety stops (RemediationAllowed=False)",
                "Fleets where all remediation is stopped, by reason: TooManyUnhealthy (maxUnhealthy "
                "tripped), PolicyNotFound, Paused (spec.paused).",
                (
                    Query(
                        "sum by (namespace, fleet, reason) (judge0_operator_fleet_condition"
                        f"{SAFETY_STOPPED})",
                        "{{namespace}}/{{fleet}} {{reason}}",
                    ),
                ),
                decimals=0,
                min=0,
                width=6,
            ),
            Panel(
                "Instances remediation gave up on",
                "Left for a human: maxRetries reached or every rung of the ladder tried.",
                (
                    Query(f"sum by (namespace, fleet) (judge0_operator_gave_up_instances{FLEET})",
                          "{{namespace}}/{{fleet}}"),
                ),
                decimals=0,
                min=0,
                width=6,
            ),
        ),
    ),
    Row(
        "Remediation and recovery",
        (
            Panel(
                "Remediation actions by kind and outcome",
                "Every action the operator took (or, in DryRun, would have taken), operator-wide.",
                (
                    Query(
                        "sum by (action, outcome) "
                        f"(increase(judge0_operator_actions_total{JOB}[$__rate_interval]))",
                        "{{action}} {{outcome}}",
                    ),
                ),
                decimals=0,
                min=0,
                stack=True,
            ),
            Panel(
                "Incidents ended, by outcome",
                "How each Unhealthy instance's incident ended: the rung that recovered it "
                "(RestartJudge0, RebootInstance, Start), ReplaceInstance, NoAction, GaveUp or Removed.",
                (
                    Query(
                        "sum by (outcome) "
                        f"(increase(judge0_operator_remediation_outcomes_total{FLEET}[$__rate_interval]))",
                        "{{outcome}}",
                    ),
                ),
                decimals=0,
                min=0,
                stack=True,
            ),
            Panel(
                "Time to detect, by signal",
                "First bad observation to the instance judged Unhealthy, over the dashboard's time range.",
                quantiles("judge0_operator_time_to_detect_seconds", "signal", FLEET, "$__range"),
                unit="s",
                kind="bargauge",
                decimals=1,
                min=0,
            ),
            Panel(
                "Time to recover, by outcome",
                "Judged Unhealthy to Healthy again (or replaced), over the dashboard's time range.",
                quantiles("judge0_operator_time_to_recover_seconds", "outcome", FLEET, "$__range"),
                unit="s",
                kind="bargauge",
                decimals=1,
                min=0,
            ),
        ),
    ),
    Row(
        "Traffic",
        (
            Panel(
                "Drain duration, by how it ended",
                "Leaving rotation to the interrupting action (restart, reboot, scale-in), over the "
                "dashboard's time range: drained, timed-out, deadline or broken.",
                quantiles("judge0_operator_drain_seconds", "outcome", FLEET, "$__range"),
                unit="s",
                kind="bargauge",
                decimals=1,
                min=0,
            ),
            Panel(
                "Drain timeouts",
                "Drains that ended at drain.timeoutSeconds (or a hard deadline) with work still queued "
                "or running: those submissions were cut short.",
                (
                    Query(
                        "sum by (namespace, fleet) "
                        f"(increase(judge0_operator_drain_timeouts_total{FLEET}[$__rate_interval]))",
                        "{{namespace}}/{{fleet}}",
                    ),
                ),
                decimals=0,
                min=0,
                thresholds=((1, "red"),),
            ),
        ),
    ),
    Row(
        "AWS",
        (
            Panel(
                "AWS calls by operation and outcome",
                "Calls to EC2 and SSM: ok, or the error kind (throttled, transient, capacity, terminal, "
                "circuit-open: refused locally by an open breaker).",
                (
                    Query(
                        f"sum by (operation, outcome) (rate(judge0_operator_aws_calls_total{JOB}[$__rate_interval]))",
                        "{{operation}} {{outcome}}",
                    ),
                ),
                unit="reqps",
                min=0,
                stack=True,
            ),
            Panel(
                "Throttling: throttled calls and token-bucket waits",
                "Calls AWS answered with throttling, and seconds per second spent waiting for the "
                "operator's own EC2 token buckets.",
                (
                    Query(
                        "sum by (operation) (rate(judge0_operator_aws_calls_total"
                        f"{THROTTLED}[$__rate_interval]))",
                        "throttled {{operation}}",
                    ),
                    Query(
                        "sum by (operation) "
                        f"(rate(judge0_operator_aws_budget_wait_seconds_total{JOB}[$__rate_interval]))",
                        "waiting {{operation}}",
                    ),
                ),
                min=0,
            ),
            Panel(
                "Circuit breakers",
                "Per region and operation: 0 closed, 1 half-open (one trial call), 2 open (calls refused).",
                (
                    Query(f"max by (region, operation) (judge0_operator_circuit_state{JOB})",
                          "{{region}} {{operation}}"),
                ),
                decimals=0,
                min=0,
                max=2,
                thresholds=((1, "orange"), (2, "red")),
            ),
            Panel(
                "AWS call latency",
                "botocore retries included.",
                quantiles("judge0_operator_aws_call_duration_seconds", "operation", JOB, "$__rate_interval"),
                unit="s",
                min=0,
            ),
        ),
    ),
    Row(
        "Operator",
        (
            Panel(
                "Reconcile pass duration",
                "One fleet's observe → decide → act → report pass.",
                quantiles("judge0_operator_reconcile_duration_seconds", "", JOB, "$__rate_interval"),
                unit="s",
                min=0,
            ),
            Panel(
                "Probe results by signal",
                "Judge0 probes per second: ok, bad or unknown (inconclusive, e.g. /workers answering []).",
                (
                    Query(
                        f"sum by (signal, result) (rate(judge0_operator_probe_results_total{JOB}[$__rate_interval]))",
                        "{{signal}} {{result}}",
                    ),
                ),
                unit="reqps",
                min=0,
                stack=True,
            ),
            Panel(
                "Operator process",
                "Scrape up and CPU (cores) of each operator process.",
                (
                    Query(f"up{JOB}", "up {{instance}}"),
                    Query(f"rate(process_cpu_seconds_total{JOB}[$__rate_interval])", "cpu {{instance}}"),
                ),
                min=0,
                width=8,
            ),
            Panel(
                "Operator memory",
                "Resident set size of each operator process.",
                (Query(f"process_resident_memory_bytes{JOB}", "{{instance}}"),),
                unit="bytes",
                min=0,
                width=8,
            ),
            Panel(
                "Leader",
                "1 on the replica that holds the leader-election Lease and acts (the others stand by), "
                "and how often leadership changed.",
                (
                    Query(f"max by (instance) (judge0_operator_leader{JOB})", "leader {{instance}}"),
                    Query(
                        f"sum(increase(judge0_operator_leadership_changes_total{JOB}[$__rate_interval]))",
                        "leadership changes",
                    ),
                ),
                decimals=0,
                min=0,
                width=8,
            ),
        ),
    ),
)
