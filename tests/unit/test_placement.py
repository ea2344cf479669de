"""Placement: healthiest-zone balancing, spot → fallback types → other zones → on-demand, exhausted pairs."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from judge0_operator.api.fleet_status import ExhaustedOffering
from judge0_operator.api.instance import InstanceSpec
from judge0_operator.decide.placement import (
    LaunchTarget,
    PlacedInstance,
    choose_launch_target,
    mark_exhausted,
    prune_exhausted,
    zone_balance_moves,
    zones_with_capacity,
)

T0 = datetime(2024, 5, 6, 14, 0, tzinfo=UTC)
SUBNETS = ["subnet-0000000a", "subnet-0000000b", "subnet-0000000c"]
ZONE_OF = {"subnet-0000000a": "eu-west-1a", "subnet-0000000b": "eu-west-1b", "subnet-0000000c": "eu-west-1c"}
A, B, C = "eu-west-1a", "eu-west-1b", "eu-west-1c"


def instance(
    market: str = "OnDemand", fallbacks: tuple[str, ...] = (), subnets=SUBNETS, **extra: Any
) -> InstanceSpec:
    return InstanceSpec.model_validate(
        {
            "imageId": "ami-12345678",
            "instanceType": "c6i.large",
            "fallbackInstanceTypes": list(fallbacks),
            "subnets": list(subnets),
            "market": market,
            **extra,
        }
    )


def choose(spec, healthy=None, out=(), exhausted=(), now=T0, **kw) -> LaunchTarget | None:
    return choose_launch_target(
        spec,
        zone_of_subnet=ZONE_OF,
        healthy_per_zone=healthy or {},
        zones_out=frozenset(out),
        exhausted=list(exhausted),
        now=now,
        **kw,
    )


def pick(spec, **kw) -> LaunchTarget:
    target = choose(spec, **kw)
    assert target is not None
    return target


def offering(
    instance_type: str, zone: str, market: str = "on-demand", until: datetime = T0 + timedelta(minutes=3)
):
    return ExhaustedOffering(
        instance_type=instance_type, zone=zone, market=market, until=until.strftime("%Y-%m-%dT%H:%M:%SZ")
    )


# --- zone choice ---------------------------------------------------------------------------------
def test_fewest_healthy_zone_wins():
    target = choose(instance(), healthy={A: 3, B: 1, C: 2})
    assert target == LaunchTarget("subnet-0000000b", B, "c6i.large", "on-demand")


def test_ties_go_to_subnet_order():
    assert pick(instance(), healthy={A: 2, B: 1, C: 1}).zone == B
    assert pick(instance()).zone == A


def test_zones_out_are_avoided_unless_all_are_out():
    assert pick(instance(), healthy={A: 5, B: 0, C: 1}, out={B}).zone == C
    assert pick(instance(), healthy={A: 5, B: 0, C: 1}, out={A, B, C}).zone == B


def test_on_demand_fleet_never_goes_spot():
    spec = instance(fallbacks=("c5.large",))
    exhausted = [offering(t, z) for t in ("c6i.large", "c5.large") for z in (A, B, C)]
    assert choose(spec, exhausted=exhausted) is None


def test_only_zones_restricts_the_choice():
    assert pick(instance(), healthy={A: 0, B: 3, C: 3}, only_zones=frozenset({C})).zone == C
    exhausted = [offering("c6i.large", C)]
    assert choose(instance(), only_zones=frozenset({C}), exhausted=exhausted) is None


def test_duplicate_fallback_type_is_tried_once():
    spec = instance(fallbacks=("c6i.large", "c5.large"), subnets=SUBNETS[:1])
    assert pick(spec, exhausted=[offering("c6i.large", A)]).instance_type == "c5.large"


# --- fallback order ------------------------------------------------------------------------------
def drain(spec: InstanceSpec, healthy: dict[str, int]) -> list[tuple[str, str, str]]:
    """Choose, then answer every launch with a capacity error, until nothing is left."""
    exhausted: list[ExhaustedOffering] = []
    tried: list[tuple[str, str, str]] = []
    while (target := choose(spec, healthy=healthy, exhausted=exhausted)) is not None:
        tried.append((target.market, target.zone, target.instance_type))
        exhausted = mark_exhausted(
            exhausted, instance_type=target.instance_type, zone=target.zone, market=target.market, now=T0
        )
        assert len(tried) < 50
    return tried


def test_spot_falls_back_to_types_then_zones_then_on_demand():
    spec = instance(market="Spot", fallbacks=("c5.large",), subnets=SUBNETS[:2])
    assert drain(spec, {A: 1, B: 0}) == [
        ("spot", B, "c6i.large"),
        ("spot", B, "c5.large"),
        ("spot", A, "c6i.large"),
        ("spot", A, "c5.large"),
        ("on-demand", B, "c6i.large"),
        ("on-demand", B, "c5.large"),
        ("on-demand", A, "c6i.large"),
        ("on-demand", A, "c5.large"),
    ]


def test_on_demand_falls_back_to_types_then_zones():
    spec = instance(fallbacks=("c5.large", "m6i.large"), subnets=SUBNETS[:2])
    assert drain(spec, {}) == [
        ("on-demand", A, "c6i.large"),
        ("on-demand", A, "c5.large"),
        ("on-demand", A, "m6i.large"),
        ("on-demand", B, "c6i.large"),
        ("on-demand", B, "c5.large"),
        ("on-demand", B, "m6i.large"),
    ]


def test_launch_template_without_type_uses_the_template_type_first():
    spec = InstanceSpec.model_validate(
        {"launchTemplate": {"name": "judge0"}, "fallbackInstanceTypes": ["c5.large"], "subnets": SUBNETS[:1]}
    )
    assert pick(spec).instance_type == ""  # "" = whatever the launch template says
    assert pick(spec, exhausted=[offering("", A)]).instance_type == "c5.large"


# --- exhausted offerings -------------------------------------------------------------------------
def test_exhausted_pair_is_skipped_until_it_expires():
    spec = instance(subnets=SUBNETS[:2])
    exhausted = mark_exhausted([], instance_type="c6i.large", zone=A, market="on-demand", now=T0)
    assert exhausted[0].until == "2024-05-06T14:03:00Z"  # 180 s, as Karpenter
    assert pick(spec, exhausted=exhausted, now=T0 + timedelta(seconds=179)).zone == B
    assert pick(spec, exhausted=exhausted, now=T0 + timedelta(seconds=180)).zone == A


def test_exhausted_spot_does_not_block_on_demand_of_the_same_pair():
    spec = instance(market="Spot", subnets=SUBNETS[:1])
    target = pick(spec, exhausted=[offering("c6i.large", A, "spot")])
    assert (target.market, target.zone, target.instance_type) == ("on-demand", A, "c6i.large")


def test_mark_exhausted_refreshes_without_duplicates_and_drops_expired():
    first = mark_exhausted([], instance_type="c6i.large", zone=A, market="spot", now=T0)
    stale = offering("c5.large", B, until=T0 + timedelta(seconds=30))
    later = T0 + timedelta(seconds=60)
    again = mark_exhausted([*first, stale], instance_type="c6i.large", zone=A, market="spot", now=later)
    assert [(o.instance_type, o.zone, o.market) for o in again] == [("c6i.large", A, "spot")]
    assert again[0].until == "2024-05-06T14:04:00Z"
    other = mark_exhausted(again, instance_type="c6i.large", zone=A, market="on-demand", now=later)
    assert len(other) == 2


def test_prune_exhausted_keeps_only_live_entries():
    entries = [offering("a1.large", A, until=T0), offering("a1.large", B, until=T0 + timedelta(seconds=1))]
    assert [o.zone for o in prune_exhausted(entries, now=T0)] == [B]


def test_zones_with_capacity():
    spec = instance(fallbacks=("c5.large",))
    exhausted = [offering("c6i.large", A), offering("c5.large", A), offering("c6i.large", B)]
    assert zones_with_capacity(
        spec, zone_of_subnet=ZONE_OF, zones_out=frozenset({C}), exhausted=exhausted, now=T0
    ) == [B]


# --- zone balance moves --------------------------------------------------------------------------
def placed(zone: str, n: int, start: int = 0) -> list[PlacedInstance]:
    return [
        PlacedInstance(
            f"i-{zone[-1]}{start + i}", f"{zone[-1]}{start + i}", zone, T0 + timedelta(minutes=start + i)
        )
        for i in range(n)
    ]


def test_zone_back_from_outage_gets_capacity_gradually():
    fleet = [*placed(A, 3), *placed(B, 3), *placed(C, 0)]
    one = zone_balance_moves(fleet, zones=[A, B, C], max_moves=1)
    assert len(one) == 1 and one[0].to_zone == C and one[0].from_zone == A
    assert one[0].instance_id == "i-a2"  # the newest of the fullest zone
    all_moves = zone_balance_moves(fleet, zones=[A, B, C], max_moves=10)
    after = Counter(p.zone for p in fleet)
    for move in all_moves:
        after[move.from_zone] -= 1
        after[move.to_zone] += 1
    assert sorted(after.values()) == [2, 2, 2]


def test_balanced_within_one_needs_no_moves():
    assert (
        zone_balance_moves([*placed(A, 3), *placed(B, 2), *placed(C, 2)], zones=[A, B, C], max_moves=5) == []
    )


def test_no_moves_into_a_zone_that_may_not_receive():
    fleet = [*placed(A, 4), *placed(B, 4)]
    assert zone_balance_moves(fleet, zones=[A, B], max_moves=5) == []  # C is out: not a target
    assert zone_balance_moves(fleet, zones=[A, B, C], max_moves=0) == []


# --- properties ----------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(
    zone_count=st.integers(1, 4),
    launches=st.integers(0, 40),
    market=st.sampled_from(["OnDemand", "Spot"]),
    out=st.sets(st.integers(0, 3)),
)
def test_filling_from_empty_stays_balanced_within_one(zone_count, launches, market, out):
    subnets = [f"subnet-{i:08x}" for i in range(zone_count)]
    zone_of = {s: f"zone-{i}" for i, s in enumerate(subnets)}
    zones_out = frozenset(f"zone-{i}" for i in out if i < zone_count)
    spec = instance(market=market, subnets=subnets)
    counts: Counter[str] = Counter()
    for _ in range(launches):
        target = choose_launch_target(
            spec, zone_of_subnet=zone_of, healthy_per_zone=counts, zones_out=zones_out, exhausted=[], now=T0
        )
        assert target is not None
        counts[target.zone] += 1
    usable = [z for z in zone_of.values() if z not in zones_out] or list(zone_of.values())
    assert set(counts) <= set(usable)
    assert max(counts[z] for z in usable) - min(counts[z] for z in usable) <= 1


TYPES = ["c6i.large", "c5.large", "m6i.large"]


@settings(max_examples=200, deadline=None)
@given(
    market=st.sampled_from(["OnDemand", "Spot"]),
    fallbacks=st.integers(0, 2),
    healthy=st.lists(st.integers(0, 5), min_size=3, max_size=3),
    exhausted_keys=st.sets(
        st.tuples(st.sampled_from(TYPES), st.sampled_from([A, B, C]), st.sampled_from(["spot", "on-demand"]))
    ),
    expired=st.booleans(),
)
def test_choice_is_the_first_non_exhausted_in_preference_order(
    market, fallbacks, healthy, exhausted_keys, expired
):
    spec = instance(market=market, fallbacks=tuple(TYPES[1 : 1 + fallbacks]))
    types = TYPES[: 1 + fallbacks]
    markets = ["spot", "on-demand"] if market == "Spot" else ["on-demand"]
    healthy_per_zone = dict(zip([A, B, C], healthy, strict=True))
    until = T0 - timedelta(seconds=1) if expired else T0 + timedelta(seconds=90)
    exhausted = [offering(t, z, m, until) for t, z, m in exhausted_keys]
    target = choose(spec, healthy=healthy_per_zone, exhausted=exhausted)
    blocked = set() if expired else exhausted_keys
    # Oracle: markets, then zones by (healthy, subnet order), then types; the first not blocked.
    zones = sorted([A, B, C], key=lambda z: (healthy_per_zone[z], [A, B, C].index(z)))
    expected = next(
        ((m, z, t) for m in markets for z in zones for t in types if (t, z, m) not in blocked), None
    )
    assert (None if target is None else (target.market, target.zone, target.instance_type)) == expected
    if target is not None:
        assert (target.instance_type, target.zone, target.market) not in blocked


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 8), min_size=2, max_size=4),
    max_moves=st.integers(0, 10),
)
def test_balance_moves_are_bounded_and_never_widen_the_spread(sizes, max_moves):
    zones = [f"zone-{i}" for i in range(len(sizes))]
    fleet = [p for zone, n in zip(zones, sizes, strict=True) for p in placed(zone, n)]
    moves = zone_balance_moves(fleet, zones=zones, max_moves=max_moves)
    assert len(moves) <= max_moves
    assert len({m.instance_id for m in moves}) == len(moves)
    counts = Counter({z: n for z, n in zip(zones, sizes, strict=True)})
    for move in moves:
        assert counts[move.from_zone] - counts[move.to_zone] >= 2  # only moves that help
        counts[move.from_zone] -= 1
        counts[move.to_zone] += 1
    spread = max(counts.values()) - min(counts.values())
    if len(moves) < max_moves:
        assert spread <= 1
    assert spread <= max(sizes) - min(sizes)
