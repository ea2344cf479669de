"""Copy deploy/node/judge0-node.yaml into the userData of examples/fleet-node-bootstrap.yaml.

The example carries the node cloud-config verbatim (tests/unit/test_node_bootstrap.py checks it);
after editing the cloud-config run ``python3 tools/sync_node_example.py``. Only the userData block
is rewritten: the rest of the example, comments included, stays as it is.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / "deploy" / "node" / "judge0-node.yaml"
EXAMPLE = ROOT / "examples" / "fleet-node-bootstrap.yaml"
KEY = "    userData: |\n"
INDENT = " " * 6


def synced(example: str, node: str) -> str:
    """The example text with its userData block replaced by ``node``."""
    lines = example.splitlines(keepends=True)
    start = lines.index(KEY) + 1
    end = start
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(INDENT)):
        end += 1
    block = [INDENT + line if line.strip() else "\n" for line in node.splitlines(keepends=True)]
    return "".join(lines[:start] + block + lines[end:])


def main() -> int:
    before = EXAMPLE.read_text()
    after = synced(before, NODE.read_text())
    if after != before:
        EXAMPLE.write_text(after)
        print(f"updated {EXAMPLE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
