"""``screenpop check`` hides every configured secret, a Redis password as written and as meant."""

from __future__ import annotations

from screenpop.cli.check import configured_secrets, failure_text
from screenpop.config import settings_from_mapping


def test_a_redis_password_with_delimiters_is_hidden_decoded_too() -> None:
    """The config keeps ``hunter2/abc@x`` percent-encoded; a failure quoting it decoded still hides it."""
    raw = {
        "agents": {"token_secret": "s" * 32, "directory": [{"id": "a1"}]},
        "broker": {"url": "redis://:hunter2/abc@x@127.0.0.1:6379/0"},
    }
    secrets = configured_secrets(settings_from_mapping(raw, source="test.yaml", environ={}))
    assert "hunter2/abc@x" in secrets
    assert "hunter2" not in failure_text(RuntimeError("AUTH hunter2/abc@x refused"), secrets)


def test_a_userinfo_without_a_colon_is_hidden_as_a_password() -> None:
    """``redis://secret@host``: a user name to redis-py, a password to a habit: never printed either way."""
    raw = {
        "agents": {"token_secret": "s" * 32, "directory": [{"id": "a1"}]},
        "broker": {"url": "redis://hunter2@127.0.0.1:6379/0"},
    }
    secrets = configured_secrets(settings_from_mapping(raw, source="test.yaml", environ={}))
    said = failure_text(
        RuntimeError("cannot connect to redis://hunter2@127.0.0.1:6379/0 as hunter2"), secrets
    )
    assert "hunter2" not in said
    assert (
        failure_text(RuntimeError("to postgresql://u:pw-pw@db/x"), ())
        == "RuntimeError: to postgresql://u:***@db/x"
    )
