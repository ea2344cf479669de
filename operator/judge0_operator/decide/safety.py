"""Storm prevention: maxUnhealthy, maxInFlight and zone outages.

- ``maxUnhealthy`` (count, or percent of desired rounded *down*, as Cluster API): above it no
  remediation at all, only reporting; launching for missing capacity stays allowed. A non-zero
  percentage allows at least 1: "40%" of a 1- or 2-instance fleet would otherwise round to 0
  and such a fleet could never heal a single failure (a storm needs two). An explicit ``0`` or
  ``"0%"`` still means "never remediate".
- ``maxInFlight`` (count, or percent rounded *up*, at least 1): remediations in flight at once.
- Zone outage: a zone where at least 2 instances are Unhealthy and they make up at least
  ``zoneOutageThreshold`` percent is *out*: its unhealthy instances are re-created elsewhere
  (launch first) instead of being restarted one by one into a dead zone, and placement skips it.
  Its unhealthy instances no longer count toward maxUnhealthy. If *every* zone that has
  instances is out, nothing is out: that is a fleet-wide problem (an API partition, a bad
  deploy) and maxUnhealthy must stop the storm, not fail over into nowhere. An out zone recovers
  when its instances are healthy again (none Unhealthy, at least one Healthy), or, emptied,
  after ``ZONE_OUT_COOLDOWN_SECONDS``.

One unhealthy instance never makes an outage, even alone in its zone: it cannot tell a dead
zone from a dead node, and with one instance per zone (the common small fleet) every node
failure would otherwise skip the cheap rungs of the ladder and report a zone outage.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from judge0_operator.api.common import resolve_int_or_percent
from judge0_operator.api.fleet_status import InstanceStatus, Judge0FleetStatus
from judge0_operator.api.policy import RecoveryPolicySpec
from judge0_operator.decide import diagnosis
from judge0_operator.decide.model import EventNote
from judge0_operator.decide.timeutil import after, format_time, parse_time

ZONE_OUT_COOLDOWN_SECONDS = 600
MIN_UNHEALTHY_FOR_ZONE_OUT = 2


def max_unhealthy(policy: RecoveryPolicySpec, desired: int) -> int:
    value = policy.safety.max_unhealthy
    limit = resolve_int_or_percent(value, desired, round_up=False)
    if isinstance(value, str) and value.strip() not in ("0%", "0"):
        return max(1, limit)
    return limit


def max_in_flight(policy: RecoveryPolicySpec, desired: int) -> int:
    return max(1, resolve_int_or_percent(policy.safety.max_in_flight, desired, round_up=True))


@dataclass(frozen=True)
class ZoneVerdict:
    out: tuple[str, ...]  # zones out after this pass, sorted
    since: dict[str, str]  # zone → when it was marked out
    newly_out: tuple[str, ...]
    recovered: tuple[str, ...]
    fleet_wide: bool  # every populated zone looked out: treated as a fleet-wide problem
    deadlines: tuple[datetime, ...]


def zone_is_out(total: int, unhealthy: int, threshold_percent: int) -> bool:
    """At least two unhealthy instances, making up at least the threshold share of the zone."""
    enough = unhealthy >= MIN_UNHEALTHY_FOR_ZONE_OUT
    return total > 0 and enough and unhealthy * 100 >= threshold_percent * total


def judge_zones(
    members: Iterable[tuple[str, str]],
    *,
    previous_out: Iterable[str],
    previous_since: Mapping[str, str],
    threshold_percent: int,
    now: datetime,
) -> ZoneVerdict:
    """``members``: (zone, health) of each live instance. Which zones are out now, and what changed."""
    totals: Counter[str] = Counter()
    unhealthy: Counter[str] = Counter()
    healthy: Counter[str] = Counter()
    for zone, health in members:
        if not zone:
            continue
        totals[zone] += 1
        unhealthy[zone] += health == "Unhealthy"
        healthy[zone] += health == "Healthy"
    was_out = set(previous_out)
    out: set[str] = set()
    since: dict[str, str] = {}
    deadlines: list[datetime] = []
    for zone in was_out:
        marked = parse_time(previous_since.get(zone)) or now
        if totals[zone]:
            if unhealthy[zone] == 0 and healthy[zone] > 0:
                continue  # its instances are healthy again
        else:
            cooldown_ends = after(marked, ZONE_OUT_COOLDOWN_SECONDS)
            if now >= cooldown_ends:
                continue
            deadlines.append(cooldown_ends)
        out.add(zone)
        since[zone] = format_time(marked)
    for zone in totals:
        if zone_is_out(totals[zone], unhealthy[zone], threshold_percent) and zone not in out:
            out.add(zone)
            since[zone] = format_time(now)
    populated = {zone for zone, count in totals.items() if count}
    fleet_wide = bool(populated) and populated <= out
    if fleet_wide:
        out, since, deadlines = set(), {}, []
    return ZoneVerdict(
        out=tuple(sorted(out)),
        since=since,
        newly_out=tuple(sorted(out - was_out)),
        recovered=tuple(sorted(was_out - out)),
        fleet_wide=fleet_wide,
        deadlines=tuple(deadlines),
    )


# --- Phases 2 and 4 of a pass: zones, then the fleet-level limits ----------------------------
def judge_fleet_zones(
    rows: Collection[InstanceStatus], previous: Judge0FleetStatus, policy: RecoveryPolicySpec, now: datetime
) -> tuple[ZoneVerdict, tuple[EventNote, ...]]:
    """Which zones are out after this pass, and the Events for zones going out or coming back.

    Events: ``ZoneOutage`` — Warning; ``ZoneRecovered`` — Normal.
    """
    verdict = judge_zones(
        [(row.zone, row.health) for row in rows],
        previous_out=previous.zones_out,
        previous_since=previous.zones_out_since,
        threshold_percent=policy.safety.zone_outage_threshold,
        now=now,
    )
    events: list[EventNote] = []
    for zone in verdict.newly_out:
        members = [r for r in rows if r.zone == zone]
        bad = sum(r.health == "Unhealthy" for r in members)
        events.append(
            EventNote(
                "Warning",
                "ZoneOutage",
                f"zone {zone}: {bad} of {len(members)} instances unhealthy; failing its capacity over to other zones",
            )
        )
    for zone in verdict.recovered:
        why = (
            "every zone looks unhealthy: a fleet-wide problem, not a zone outage"
            if verdict.fleet_wide
            else "its instances are healthy again, or it stayed empty long enough"
        )
        events.append(EventNote("Normal", "ZoneRecovered", f"zone {zone} is no longer out: {why}"))
    return verdict, tuple(events)


@dataclass(frozen=True)
class Limits:
    """maxUnhealthy and maxInFlight for this pass, judged before anything is decided."""

    holders: int  # instances holding a slot
    unhealthy: tuple[str, ...]  # unhealthy holders outside out zones, sorted
    max_unhealthy: int
    max_in_flight: int

    @property
    def restricted(self) -> bool:
        """Above maxUnhealthy: no remediation at all (launching for missing capacity stays allowed)."""
        return len(self.unhealthy) > self.max_unhealthy


def fleet_limits(
    policy: RecoveryPolicySpec, holders: Sequence[InstanceStatus], *, desired: int, zones_out: Collection[str]
) -> Limits:
    """The limits over the slot holders; unhealthy instances in out zones fail over, so do not count,
    nor do those whose diagnosis is never acted on (a wrong token, maintenance: configuration)."""
    unhealthy = sorted(
        h.instance_id
        for h in holders
        if h.health == "Unhealthy" and h.zone not in zones_out and diagnosis.acts(h.diagnosis)
    )
    return Limits(
        holders=len(holders),
        unhealthy=tuple(unhealthy),
        max_unhealthy=max_unhealthy(policy, desired),
        max_in_flight=max_in_flight(policy, desired),
    )
