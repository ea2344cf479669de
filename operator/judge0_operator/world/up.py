"""``judge0-operator world up``: a world served until SIGINT/SIGTERM, its info printed and written
for the processes (operator, scenario runner) that connect to it."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
from pathlib import Path

from judge0_operator.world.config import WorldConfig
from judge0_operator.world.world import World


def world_up_main(args: argparse.Namespace) -> int:
    """Start the world, print its info as one JSON line, serve until SIGINT/SIGTERM, stop cleanly."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = WorldConfig(
        speed=float(getattr(args, "speed", 1.0) or 1.0),
        client_tokens=bool(getattr(args, "client_tokens", True)),
        seed=getattr(args, "seed", None),
        kubeconfig_path=getattr(args, "kubeconfig", None),
    )
    return asyncio.run(_world_up(config, getattr(args, "info_file", None), getattr(args, "manifests", None)))


async def _world_up(config: WorldConfig, info_file: str | None, manifests_file: str | None = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with World(config) as world:
        line = json.dumps(world.info)
        if manifests_file:  # written before the info file, whose appearance says the world is up
            from judge0_operator.simulate.manifests import write_world_manifests

            write_world_manifests(world.info, manifests_file)
        if info_file:
            path = Path(info_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(line + "\n")
            os.replace(tmp, path)
        print(line, flush=True)
        await stop.wait()
    return 0
