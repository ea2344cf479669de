"""The Judge0 probes: ``prober`` schedules them per node and keeps each node's state (``node``);
``probes`` (api, workers, statistics) and ``canary`` ask the node, over ``client`` (one shared
session, bounded requests in flight, the token scrubbed from everything)."""
