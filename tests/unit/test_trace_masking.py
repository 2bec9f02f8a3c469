"""What a lookup trace may show: URLs, headers, bodies and parameters with secrets masked, values clipped."""

from __future__ import annotations

from screenpop.connector_api import (
    MASKED,
    clip,
    shown_body,
    shown_headers,
    shown_params,
    shown_url,
)


def test_url_password_secret_query_values_and_known_secrets_are_masked() -> None:
    """The URL is shown as sent, but its password, secret-named query values and given secrets are ***."""
    url = "https://bot:hunter22@crm.example/api/v1/abcd1234efgh/contacts?phone=%2B14155550132&api_key=K9&sig=S1&lang=de"
    shown = shown_url(url, secrets=("abcd1234efgh",))
    assert (
        shown
        == f"https://bot:{MASKED}@crm.example/api/v1/{MASKED}/contacts?phone=%2B14155550132&api_key={MASKED}&sig={MASKED}&lang=de"
    )


def test_names_that_merely_contain_a_secret_word_part_are_kept() -> None:
    """`country_code`, `keyword` and `assignee` are not secrets; `token`, `X-Api-Key`, `client_secret` are."""
    assert (
        shown_url("https://x/?country_code=1&keyword=a&assignee=b")
        == "https://x/?country_code=1&keyword=a&assignee=b"
    )
    assert (
        shown_url("https://x/?token=t&client_secret=c") == f"https://x/?token={MASKED}&client_secret={MASKED}"
    )
    headers = shown_headers({"Authorization": "Bearer t", "X-Api-Key": "k", "Accept": "application/json"})
    assert headers == {"Authorization": MASKED, "X-Api-Key": MASKED, "Accept": "application/json"}


def test_body_and_parameters_mask_secrets_at_any_depth() -> None:
    """A body's secret-named values and a `secret_` attribute bound into a query are masked."""
    body = {"query": {"phone": "+1", "auth": {"password": "p"}}, "items": [{"api_key": "k"}]}
    assert shown_body(body) == {"query": {"phone": "+1", "auth": MASKED}, "items": [{"api_key": MASKED}]}
    assert shown_params({"e164": "+1", "attr_secret_pin": "1234", "attr_order": "7"}) == {
        "e164": "+1",
        "attr_secret_pin": MASKED,
        "attr_order": "7",
    }


def test_clip_bounds_texts_lists_and_depth() -> None:
    """Long texts say how long they were; lists keep 5 items and count the rest; deep nesting stops."""
    assert clip("x" * 300) == "x" * 200 + "… (300 characters)"
    assert clip(list(range(8))) == [0, 1, 2, 3, 4, "… 3 more"]
    deep: object = "end"
    for _ in range(10):
        deep = [deep]
    assert "…" in repr(clip(deep))
    assert clip({"n": 1.5, "ok": True, "none": None}) == {"n": 1.5, "ok": True, "none": None}
