"""A visible section built from a hidden one is named to IT: by `check`, and once in the start-up log.

The SPEC's own `offer` rules copy `credit.available` onto tier1's card while
tier1 hides `credit`: allowed (the author's choice), but a security officer
must read it in the tools, with a verbatim copy told apart from a condition
(one bit) and from a plain lookup key.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from screenpop.cli.check import exposure_rows
from screenpop.cli.output import print_check_table
from screenpop.config import Settings, load_settings, settings_from_mapping
from screenpop.config.exposure import hidden_exposures, log_config_warnings
from tests.support.service import SCRIPTED, api, base_config, running
from tests.support.tokens import token_for

OFFER = {
    "name": "offer",
    "kind": "rules",
    "needs": ["credit.rating", "credit.available", "accounting.balance"],
    "rules": [
        {"when": {"accounting_balance": {"above": 0}}, "then": {"say": "Ask about {accounting_balance}"}},
        {
            "when": {"credit_rating": {"in": ["A", "B"]}},
            "then": {"terms": "Net 45", "max_order": "{credit_available}"},
        },
        {"then": {"terms": "Net 30"}},
    ],
}


def config(store_url: str = "sqlite+aiosqlite:///:memory:", *extra: dict[str, Any]) -> dict[str, Any]:
    """The shared test config (tier1 hides credit) with the SPEC's `offer` and ``extra`` connectors."""
    mapping = base_config(store_url)
    mapping["connectors"] += [OFFER, *extra]
    return mapping


def settings(*extra: dict[str, Any], roles: dict[str, Any] | None = None) -> Settings:
    mapping = config("sqlite+aiosqlite:///:memory:", *extra)
    if roles is not None:
        mapping["roles"] = roles
    return settings_from_mapping(mapping, source="<test>", environ={})


def sentences(found: Settings) -> list[str]:
    return [e.sentence() for e in hidden_exposures(found)]


def test_a_verbatim_copy_and_a_condition_are_named_apart() -> None:
    """A `{credit_available}` in `then` is a copy, `when: credit_rating` one bit; visible fields: no news."""
    assert sentences(settings()) == [
        "offer shows credit.available to tier1, whose role hides credit: copied verbatim "
        "(rules[1].then.max_order)",
        "offer tells tier1 whether a condition on credit.rating holds (rules[1].when.credit_rating): "
        "one bit of credit, which tier1's role hides",
    ]


def test_a_field_both_tested_and_copied_is_named_once_as_a_copy() -> None:
    """A condition on a value the same section copies tells nothing more: one line, the copy."""
    copied = {**OFFER, "name": "limit", "needs": ["credit.available"]}
    copied["rules"] = [{"when": {"credit_available": {"above": 0}}, "then": {"max": "{credit_available}"}}]
    found = [s for s in sentences(settings(copied)) if s.startswith("limit")]
    assert found == [
        "limit shows credit.available to tier1, whose role hides credit: copied verbatim (rules[0].then.max)"
    ]


def test_a_lookup_keyed_by_a_hidden_field_is_named() -> None:
    """A connector of another kind that `needs` a hidden field shows what that field found."""
    terms = {"name": "terms", "kind": SCRIPTED, "needs": ["credit.rating"], "rows": {}}
    found = [s for s in sentences(settings(terms)) if s.startswith("terms")]
    assert found == [
        "terms is looked up with credit.rating: what it shows tier1 depends on credit, "
        "which tier1's role hides"
    ]


def test_a_role_that_hides_the_derived_section_too_is_not_named() -> None:
    """Hiding `offer` as well as `credit` closes the path: nothing to report for that role."""
    roles = {"tier1": {"hide": ["credit", "offer"]}, "supervisor": {}}
    assert sentences(settings(roles=roles)) == []


def test_a_role_that_hides_nothing_is_not_named() -> None:
    """The supervisor sees credit itself: its seeing credit.available through offer is no news."""
    assert all(e.role == "tier1" for e in hidden_exposures(settings()))


def test_check_prints_each_exposure_as_a_warning_that_does_not_fail(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`screenpop check` lists them as `warn` rows; they count apart from ok and failed."""
    rows = exposure_rows(settings())
    assert [(r.part, r.ok, r.warning) for r in rows] == [("role tier1", True, True)] * 2
    print_check_table(rows)
    out = capsys.readouterr().out
    assert "role tier1  warn" in out
    assert "offer shows credit.available to tier1" in out
    assert "\n0 ok, 0 failed\n2 warnings" in out


async def test_the_service_logs_each_exposure_once_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Starting the service logs each exposure once, as a warning naming the role and the section."""
    found = settings_from_mapping(config(f"sqlite+aiosqlite:///{tmp_path}/s.db"), source="<test>", environ={})
    with caplog.at_level(logging.WARNING, logger="screenpop.config.exposure"):
        async with running(found):
            pass
    logged = [r.getMessage() for r in caplog.records if r.name == "screenpop.config.exposure"]
    assert logged == [f"role exposure: {s}" for s in sentences(found)]
    assert len(logged) == 2


def test_the_config_warnings_are_silent_without_one(caplog: pytest.LogCaptureFixture) -> None:
    """A config where no visible section needs a hidden one logs nothing."""
    roles = {"tier1": {"hide": ["credit", "offer"]}, "supervisor": {}}
    with caplog.at_level(logging.WARNING, logger="screenpop.config.exposure"):
        log_config_warnings(settings(roles=roles))
    assert caplog.records == []


async def test_a_reload_that_adds_an_exposure_logs_it_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file reloaded with the `offer` rules added logs their exposures once, at the reload."""
    path = tmp_path / "screenpop.yaml"
    before = base_config(f"sqlite+aiosqlite:///{tmp_path}/s.db")
    path.write_text(yaml.safe_dump(before))
    async with running(load_settings(str(path))) as base:
        path.write_text(yaml.safe_dump(config(f"sqlite+aiosqlite:///{tmp_path}/s.db")))
        with caplog.at_level(logging.WARNING, logger="screenpop.config.exposure"):
            status, _ = await api(base, "POST", "/api/admin/reload", token_for(settings(), "agent-3"))
    assert status == 200
    logged = [r.getMessage() for r in caplog.records if r.name == "screenpop.config.exposure"]
    assert logged == [f"role exposure: {s}" for s in sentences(settings())]
