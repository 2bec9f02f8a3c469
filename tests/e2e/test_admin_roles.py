"""An admin role's own `hide` list applies to the admin endpoints: status (every instance's) and reload.

A reviewer's finding: an IT role with `admin: true, hide: [credit, offer]`
read in `/api/admin/status` that a `credit` connector exists, its error text
and its figures, and the feedback counted on `offer`. Two real instances
share a real Redis and a real PostgreSQL store; tokens are minted with PyJWT
as a host application mints them; the reload reads a real YAML file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml

from screenpop.config import load_settings
from tests.support.processes import services
from tests.support.service import SECRET, api, base_config, event_body, post_event, running
from tests.support.waiting import wait_for

CREDIT_FAILURE = "credit bureau refused the account A-1001"
HIDDEN = ("credit", "offer")


def config(store_url: str, redis_url: str) -> dict[str, Any]:
    """tier1 hides credit; `it` administers but hides credit and the offer rules; credit always fails."""
    mapping = base_config(store_url, broker={"url": redis_url})
    mapping["agents"]["directory"].append({"id": "it-1", "role": "it", "queues": []})
    mapping["roles"]["it"] = {"admin": True, "hide": list(HIDDEN)}
    mapping["connectors"][1]["fail"] = CREDIT_FAILURE
    mapping["connectors"].append({"name": "offer", "kind": "rules", "rules": [{"then": {"terms": "Net 30"}}]})
    return mapping


def token(agent_id: str, role: str | None = None) -> str:
    claims: dict[str, Any] = {"sub": agent_id, "exp": int(time.time()) + 3600}
    if role is not None:
        claims["role"] = role
    return jwt.encode(claims, SECRET, algorithm="HS256")


def named_anywhere(report: Any) -> list[str]:
    """The hidden names and the hidden error text wherever they occur in the answer's JSON."""
    text = json.dumps(report)
    return [word for word in (*[f'"{n}"' for n in HIDDEN], CREDIT_FAILURE) if word in text]


@pytest.mark.redis
async def test_status_of_every_instance_leaves_out_what_the_admin_role_hides(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    """`it` sees neither credit's figures and error nor offer's feedback, on its instance or the other's."""
    async with services(tmp_path, a=config(pg_url, redis_url), b=config(pg_url, redis_url)) as started:
        a, b = started["a"].base, started["b"].base
        assert (await post_event(a, event_body("c-1", agent="agent-3")))[0] == 202
        feedback = {"section": "offer", "product": "Net 30", "outcome": "accepted"}

        async def fed_back() -> bool:  # the call's record is written behind the 202
            status, _ = await api(a, "POST", "/api/calls/c-1/feedback", token("agent-3"), json=feedback)
            return status == 201

        await wait_for(fed_back, 5, "the supervisor's feedback on offer saved")

        async def both_seen_by_supervisor() -> dict[str, Any] | None:
            _, report = await api(b, "GET", "/api/admin/status", token("agent-3"))
            views = report["instances"].values()
            failed = any(v["connectors"]["credit"]["last_error"] for v in views)
            return report if len(views) == 2 and failed and "offer" in report.get("feedback", {}) else None

        # the control: a role that hides nothing reads, on B, A's credit error and offer's counts
        await wait_for(both_seen_by_supervisor, 10, "both instances' status, credit failing, offer counted")
        _, it_view = await api(b, "GET", "/api/admin/status", token("it-1"))
        _, claimed = await api(a, "GET", "/api/admin/status", token("agent-3", role="it"))
    assert len(it_view["instances"]) == len(claimed["instances"]) == 2
    assert named_anywhere(it_view) == []
    assert named_anywhere(claimed) == []  # a token's role claim decides, as on the socket
    assert set(it_view["connectors"]) == {"accounting"}
    assert all(set(v["connectors"]) == {"accounting"} for v in it_view["instances"].values())


async def test_a_reload_answer_leaves_out_the_connectors_the_admin_role_hides(
    tmp_path: Path, redis_url: str
) -> None:
    """The reload answer's added/changed/removed/kept lists name no connector the admin's role hides."""
    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(config(f"sqlite+aiosqlite:///{tmp_path}/s.db", redis_url)))
    async with running(load_settings(str(path))) as base:
        status, answer = await api(base, "POST", "/api/admin/reload", token("it-1"))
        _, control = await api(base, "POST", "/api/admin/reload", token("agent-3"))
    assert status == 200, answer
    assert set(control["connectors"]["kept"]) == {"accounting", "credit", "offer"}
    assert answer["connectors"]["kept"] == ["accounting"]
    assert named_anywhere(answer) == []
