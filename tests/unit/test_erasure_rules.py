"""What marks a Redis key or entry as an erased caller's, and what `erase` and `retention:` accept."""

from __future__ import annotations

import json
import os
import pwd

import pytest

from screenpop.broker.erasure import Concerning
from screenpop.cli.erase import erasure_target, os_user
from screenpop.errors import ConfigError
from screenpop.store import ErasureTarget, RetentionPolicy
from screenpop.testing import make_settings

ADA = Concerning(frozenset({("pbx", "c-1")}), ("+14155550132",), customer=("accounting", "A-1001"))


def test_a_call_is_named_by_whole_key_segments_only() -> None:
    """`card:pbx:c-1`, `event:pbx:c-1:ringing` name call c-1; `card:pbx:c-10`, `card:other:c-1` do not."""
    assert ADA.names_call("card:pbx:c-1")
    assert ADA.names_call("event:pbx:c-1:ringing:agent-1")
    assert not ADA.names_call("card:pbx:c-10")
    assert not ADA.names_call("card:other:c-1")


def test_ids_count_as_whole_json_values_and_the_number_anywhere() -> None:
    """A frame naming call c-1 (even as JSON inside JSON) or the number matches; one naming c-10 does not."""
    frame = json.dumps({"type": "call", "call_id": "c-1"})
    assert ADA.mentioned_in(frame)
    assert ADA.mentioned_in(json.dumps({"p": [["b", frame]]}))
    assert ADA.mentioned_in('{"caller": {"e164": "+14155550132"}}')
    assert not ADA.mentioned_in(json.dumps({"type": "call", "call_id": "c-10", "note": "about c-1x"}))
    assert not ADA.mentioned_in("agent-1")


def test_short_ids_count_only_where_they_name_a_call_a_number_or_a_customer() -> None:
    """Call "1", customer 1 and the digits "4711" match a call field, an `ids` entry, a number field only."""
    one = Concerning(frozenset({("pbx", "1")}), numbers=frozenset({"4711"}), customer=("crm", "1"))
    assert one.mentioned_in(json.dumps({"call": "1", "provider": "pbx"}))
    assert one.mentioned_in(json.dumps({"card": {"customer": {"ids": {"crm": 1}}}}))
    assert one.mentioned_in(json.dumps({"caller": {"e164": "4711"}}))
    assert one.mentioned_in(json.dumps({"m": json.dumps({"type": "call", "call_id": "1"})}))
    assert not one.mentioned_in("1")  # an event claim's value
    assert not one.mentioned_in(json.dumps({"call": "1", "provider": "other"}))
    assert not one.mentioned_in(json.dumps({"branch": "1", "ids": {"erp": "1"}, "ext": "4711"}))


def test_erase_reads_the_number_with_the_configured_region() -> None:
    """`--number 030 1234567` is a Berlin number when the region is DE; junk is one sentence."""
    settings = make_settings(numbers={"default_region": "DE"})
    assert erasure_target("030 1234567", None, settings) == ErasureTarget(
        number="+49301234567", default_region="DE"
    )
    with pytest.raises(ValueError, match="is not a phone number"):
        erasure_target("anonymous", None, settings)


def test_erase_customer_must_name_a_configured_connector_and_an_id() -> None:
    """`--customer` is CONNECTOR:ID with a connector the config has; anything else is one sentence."""
    settings = make_settings([{"name": "accounting", "kind": "screenpop.testing:ScriptedConnector"}])
    assert erasure_target(None, "accounting:A:1", settings) == ErasureTarget(
        connector="accounting", customer_id="A:1"
    )
    # a space typed after the colon (or pasted around the id) would match no customer: a silent no-op
    assert erasure_target(None, " accounting : A-1001 ", settings) == ErasureTarget(
        connector="accounting", customer_id="A-1001"
    )
    with pytest.raises(ValueError, match="CONNECTOR:ID"):
        erasure_target(None, "accounting", settings)
    with pytest.raises(ValueError, match="does not have"):
        erasure_target(None, "crm:7", settings)


def test_retention_days_are_whole_non_negative_numbers() -> None:
    """`retention:` refuses a negative age and names the key; omitted ages keep forever."""
    with pytest.raises(ConfigError, match=r"retention\.calls_days"):
        make_settings(retention={"calls_days": -1})
    kept = make_settings(retention={"audit_days": 730}).retention
    policy = RetentionPolicy(kept.calls_days, kept.notes_days, kept.audit_days)
    assert (policy.calls_days, policy.notes_days, policy.outbox_days) == (0, 0, 730)
    assert policy.note_copy_days == 0  # notes are kept, and so are their sinks' copies
    assert RetentionPolicy(calls_days=30, notes_days=365).note_copy_days == 30


def test_an_os_user_without_a_passwd_entry_is_recorded_by_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    """A random container UID has no name: none in the environment, no passwd entry (KeyError)."""
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(variable, raising=False)

    def no_entry(uid: int) -> None:  # what pwd does for a UID it does not list; this machine lists root
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    assert os_user() == f"uid {os.getuid()}"
