"""Orphans: instances tagged for a fleet that no longer exists. Reported, then terminated.

An instance is an orphan only if it is seen orphaned on two sweeps in a row (a fleet created
between two sweeps is never mistaken for gone), its fleet's namespace is one this operator
watches (another operator's fleets are not ours to judge), and it was not retained on purpose
(``deletionPolicy: Retain`` tags instances ``judge0.dev/retained``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from judge0_operator.controller.runtime import Runtime, utcnow
from judge0_operator.decide.model import TAG_FLEET, TAG_RETAINED, Ec2Instance

logger = logging.getLogger(__name__)


def orphan_candidates(
    instances: Iterable[Ec2Instance], known_uids: set[str], namespaces: tuple[str, ...]
) -> set[str]:
    """Ids of live instances whose fleet uid is unknown, in a watched namespace, not retained."""
    found = set()
    for instance in instances:
        if instance.state in ("shutting-down", "terminated") or TAG_RETAINED in instance.tags:
            continue
        uid = instance.fleet_uid
        if not uid or uid in known_uids:
            continue
        namespace = instance.tags.get(TAG_FLEET, "").split("/", 1)[0]
        if namespaces and namespace not in namespaces:
            continue
        found.add(instance.instance_id)
    return found


async def sweep_orphans_forever(runtime: Runtime) -> None:
    """Every ``orphan_sweep_seconds``: find orphans per region, terminate those seen twice."""
    suspects: set[str] = set()
    while True:
        await asyncio.sleep(runtime.orphan_sweep_seconds)
        try:
            seen: set[str] = set()
            for region in runtime.regions:
                snapshot = await runtime.observer(region).snapshot(utcnow())
                if not snapshot.complete:
                    continue
                orphans = orphan_candidates(snapshot.instances, set(runtime.fleets), runtime.namespaces)
                seen |= orphans
                confirmed = sorted(orphans & suspects)
                if confirmed:
                    logger.warning(
                        "terminating %d orphan instance(s) in %s: %s",
                        len(confirmed),
                        region,
                        ", ".join(confirmed),
                    )
                    await runtime.actuator(region).terminate_many(confirmed)
            suspects = seen
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("orphan sweep failed")
