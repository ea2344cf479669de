"""The per-(region, operation) circuit breaker, driven by an injected clock."""

from __future__ import annotations

import pytest

from judge0_operator.aws.circuit import CircuitBreaker, CircuitBreakers, CircuitState, trips_circuit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_consecutive_failures() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_seconds=10, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure("transient", "InternalError")
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()
    breaker.record_failure("throttled", "RequestLimitExceeded")
    assert breaker.state is CircuitState.OPEN
    assert not breaker.allow()
    assert breaker.last_error == "RequestLimitExceeded"
    assert breaker.retry_after() == pytest.approx(10)


def test_success_resets_the_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_seconds=10, clock=FakeClock())
    breaker.record_failure("transient")
    breaker.record_success()
    breaker.record_failure("transient")
    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 1


@pytest.mark.parametrize(("kind", "status"), [("terminal", 400), ("capacity", 500), ("transient", 404)])
def test_answers_that_prove_the_api_works_do_not_trip(kind: str, status: int) -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=10, clock=FakeClock())
    breaker.record_failure(kind, http_status=status)  # type: ignore[arg-type]
    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 0


def test_trips_circuit_rules() -> None:
    assert trips_circuit("throttled", 400)
    assert trips_circuit("transient", None)  # no answer at all
    assert trips_circuit("transient", 503)
    assert not trips_circuit("transient", 400)
    assert not trips_circuit("terminal", None)


def test_half_open_after_cooldown_allows_one_trial_then_closes_on_success() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=10, clock=clock)
    breaker.record_failure("transient")
    clock.now += 9.9
    assert breaker.state is CircuitState.OPEN
    clock.now += 0.1
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow(), "only one trial call at a time"
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()


def test_failed_trial_reopens_for_a_full_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=5, cooldown_seconds=10, clock=clock)
    for _ in range(5):
        breaker.record_failure("transient")
    clock.now += 10
    assert breaker.allow()
    breaker.record_failure("transient")  # a single failed trial is enough
    assert breaker.state is CircuitState.OPEN
    clock.now += 9
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_released_trial_lets_another_through() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=1, clock=clock)
    breaker.record_failure("transient")
    clock.now += 1
    assert breaker.allow()
    breaker.release()
    assert breaker.allow()


def test_registry_keys_by_region_and_operation_and_reports_not_closed() -> None:
    clock = FakeClock()
    created: list[tuple[str, str]] = []
    breakers = CircuitBreakers(
        failure_threshold=1, cooldown_seconds=5, clock=clock, on_create=lambda r, o, b: created.append((r, o))
    )
    run = breakers.get("eu-west-1", "RunInstances")
    assert breakers.get("eu-west-1", "RunInstances") is run
    other = breakers.get("us-east-1", "RunInstances")
    assert other is not run
    run.record_failure("throttled")
    assert breakers.states() == {
        ("eu-west-1", "RunInstances"): CircuitState.OPEN,
        ("us-east-1", "RunInstances"): CircuitState.CLOSED,
    }
    assert set(breakers.not_closed("eu-west-1")) == {("eu-west-1", "RunInstances")}
    assert breakers.not_closed("us-east-1") == {}
    assert created == [("eu-west-1", "RunInstances"), ("us-east-1", "RunInstances")]


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)
