"""The Argo CD health check (examples/argocd-health.yaml) run by a real Lua 5.1 interpreter.

Argo CD runs resource health scripts with gopher-lua, a Lua 5.1; ``lupa.lua51`` embeds the
reference Lua 5.1, so the script is parsed and run as Argo CD would, with the fleet as the
global ``obj``. The fleets are real objects captured from the simulated world
(``tools/capture_statuses.py``), one per situation; what each situation must map to is the
contract in the issue (Healthy when Ready, Progressing while launching, rolling or remediating,
Degraded on gave-up, safety stop or a terminal cloud error; Suspended while paused).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51  # the test extra; it embeds the reference Lua 5.1

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = ROOT / "examples" / "argocd-health.yaml"
CAPTURED = ROOT / "tests" / "fixtures" / "statuses"
KEY = "resource.customizations.health.judge0.dev_Judge0Fleet"

EXPECTED = {
    "launching": "Progressing",
    "ready": "Healthy",
    "remediating": "Progressing",
    "rolling": "Progressing",
    "safety-stop": "Degraded",
    "gave-up": "Degraded",
    "launch-blocked": "Degraded",
    "paused": "Suspended",
}


def _script() -> str:
    doc = yaml.safe_load(SNIPPET.read_text())
    assert doc["kind"] == "ConfigMap" and doc["metadata"] == {
        "name": "argocd-cm",
        "namespace": "argocd",
        "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
    }
    return str(doc["data"][KEY])


def health(fleet: dict[str, Any]) -> dict[str, str]:
    """Run the script on ``fleet`` in a fresh Lua 5.1 state; the table it returns, as a dict."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    assert lua.eval("_VERSION") == "Lua 5.1"
    lua.globals().obj = lua.table_from(fleet, recursive=True)
    result = lua.execute(_script())
    return {str(k): str(v) for k, v in result.items()}


def captured(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CAPTURED / f"{name}.json").read_text())
    return data


def test_every_situation_was_captured() -> None:
    assert {p.stem for p in CAPTURED.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("situation", sorted(EXPECTED))
def test_captured_fleet_gets_the_expected_health(situation: str) -> None:
    result = health(captured(situation))
    assert result["status"] == EXPECTED[situation], result
    assert result["message"], "Argo CD shows the message next to the status"


def test_messages_say_why() -> None:
    gave_up = captured("gave-up")
    left = [r["instanceId"] for r in gave_up["status"]["instances"] if r.get("gaveUp")]
    assert left and left[0] in health(gave_up)["message"]
    assert "TooManyUnhealthy" in health(captured("safety-stop"))["message"]
    blocked = captured("launch-blocked")
    assert blocked["status"]["awsError"]["code"] in health(blocked)["message"]


def test_a_spec_not_yet_observed_is_progressing_whatever_the_old_status_says() -> None:
    fleet = copy.deepcopy(captured("ready"))
    fleet["metadata"]["generation"] = fleet["status"]["observedGeneration"] + 1
    result = health(fleet)
    assert result["status"] == "Progressing" and "generation" in result["message"]


def test_no_status_yet_is_progressing() -> None:
    fleet = copy.deepcopy(captured("ready"))
    del fleet["status"]
    assert health(fleet)["status"] == "Progressing"


def test_a_stalled_rollout_is_degraded() -> None:
    fleet = copy.deepcopy(captured("rolling"))
    for item in fleet["status"]["conditions"]:
        if item["type"] == "Progressing":
            item.update(status="False", reason="RolloutStalled", message="replacement unhealthy")
    assert health(fleet) == {"status": "Degraded", "message": "RolloutStalled: replacement unhealthy"}


def test_a_paused_fleet_is_not_reported_as_a_safety_stop() -> None:
    fleet = captured("paused")
    allowed = next(c for c in fleet["status"]["conditions"] if c["type"] == "RemediationAllowed")
    assert allowed["status"] == "False"  # the operator says so; Argo CD must not call it Degraded
    assert health(fleet)["status"] == "Suspended"


def test_the_script_is_rejected_by_lua_if_broken() -> None:
    """The interpreter really parses the script: a syntax error surfaces (the check can fail)."""
    lua = lua51.LuaRuntime()
    with pytest.raises(lua51.LuaSyntaxError):
        lua.execute(_script().replace("end\n", "", 1))
