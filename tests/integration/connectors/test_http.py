"""The built-in ``http`` connector against a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import ValidationError

from screenpop.connector_api import ENTRY_POINT_GROUP, ConnectorContext, LookupResult, client_session
from screenpop.connectors.http import HttpConnector, HttpOptions
from screenpop.connectors.http.connector import MAX_BODY_BYTES
from screenpop.errors import ConnectorError
from screenpop.phone import normalize
from tests.support.ports import free_port
from tests.support.waiting import wait_for

WITHIN_S = 5.0  # a bound on waiting for an event, never an assertion about speed

ADA = "+14155550132"
TOKEN = "tok-9f8e7d6c5b4a"
CONTACTS = {ADA: {"items": [{"full_name": "Ada Lovelace", "tier": "gold", "id": 7}]}}
ORDERS = {"orders": [{"no": n, "total": 10 * n, "sku": f"S{n}"} for n in range(1, 6)]}


@dataclass
class Api:
    """A CRM-like API with one route per behaviour under test, and what it saw."""

    url: str = ""
    hits: dict[str, int] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    abandoned: int = 0
    never: asyncio.Event = field(default_factory=asyncio.Event)  # never set: what a hung API waits for

    def count(self, route: str) -> int:
        return self.hits.get(route, 0)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/contacts", self.contacts)
        app.router.add_get("/orders", self.orders)
        app.router.add_get("/status/{code}", self.status)
        app.router.add_get("/html", self.html)
        app.router.add_get("/hang", self.hang)
        app.router.add_get("/slow_first", self.slow_first)
        app.router.add_post("/echo", self.echo)
        app.router.add_get("/sized/{size}", self.sized)
        app.router.add_get("/chunked/{size}", self.chunked)
        app.router.add_get("/cookie", self.cookie)
        return app

    def seen(self, request: web.Request, route: str) -> int:
        self.hits[route] = self.count(route) + 1
        self.queries.append(request.path_qs)
        self.headers.append(dict(request.headers))
        return self.hits[route]

    async def contacts(self, request: web.Request) -> web.Response:
        self.seen(request, "contacts")
        return web.json_response(CONTACTS.get(request.query.get("phone", ""), {"items": []}))

    async def orders(self, request: web.Request) -> web.Response:
        self.seen(request, "orders")
        return web.json_response(ORDERS)

    async def status(self, request: web.Request) -> web.Response:
        self.seen(request, "status")
        return web.json_response({"detail": "secret body text"}, status=int(request.match_info["code"]))

    async def html(self, request: web.Request) -> web.Response:
        self.seen(request, "html")
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    async def hang(self, request: web.Request) -> web.Response:
        self.seen(request, "hang")
        try:
            await self.never.wait()
        except asyncio.CancelledError:  # aiohttp cancels a handler whose client went away
            self.abandoned += 1
            raise
        return web.json_response({})

    async def slow_first(self, request: web.Request) -> web.Response:
        attempt = self.seen(request, "slow_first")
        if attempt == 1:
            await self.never.wait()  # the first request hangs until its client gives up on it
        return web.json_response({"answered_by": attempt})

    async def echo(self, request: web.Request) -> web.Response:
        self.seen(request, "echo")
        self.bodies.append(await request.json())
        return web.json_response({"name": "Ada"})

    async def sized(self, request: web.Request) -> web.Response:
        """A JSON string of ``size`` bytes in all, sent with its Content-Length."""
        self.seen(request, "sized")
        return web.Response(
            body=_json_of_size(int(request.match_info["size"])), content_type="application/json"
        )

    async def chunked(self, request: web.Request) -> web.StreamResponse:
        """The same body sent chunked, in 64 KiB pieces, so that no length is known in advance."""
        self.seen(request, "chunked")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        body = _json_of_size(int(request.match_info["size"]))
        for start in range(0, len(body), 64 * 1024):
            await response.write(body[start : start + 64 * 1024])
        await response.write_eof()
        return response

    async def cookie(self, request: web.Request) -> web.Response:
        """Answers with a session cookie, as many APIs and load balancers do."""
        self.seen(request, "cookie")
        response = web.json_response({"name": "Ada"})
        response.set_cookie("lb_session", "caller-one")
        return response


def _json_of_size(size: int) -> bytes:
    return b'"' + b"x" * (size - 2) + b'"'


async def _abandoned(api: Api, count: int) -> bool:
    return api.abandoned == count


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    """The test API running on a free loopback port."""
    state = Api()
    server = TestServer(state.app(), host="127.0.0.1")
    await server.start_server()
    state.url = str(server.make_url("")).rstrip("/")
    try:
        yield state
    finally:
        await server.close()


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., Any]]:
    """Build and start connectors without a shared session (each opens its own); close them after."""
    made: list[HttpConnector] = []

    async def build(name: str = "crm", http: aiohttp.ClientSession | None = None, **options: Any) -> Any:
        ctx = ConnectorContext("US", lambda raw: normalize(raw, "US"), http=http)
        connector = HttpConnector(name, HttpOptions(**options), ctx)
        made.append(connector)
        await connector.start()
        return connector

    yield build
    for connector in made:
        await connector.close()


def params(e164: str = ADA, **extra: Any) -> dict[str, Any]:
    return {
        "e164": e164,
        "national": "(415) 555-0132",
        "digits": "4155550132",
        "country_code": "1",
        "region": "US",
        **extra,
    }


CRM_SELECT = {"name": "$.items[0].full_name", "tier": "$.items[0].tier"}


async def test_select_picks_fields_and_encodes_the_number(api: Api, make: Any) -> None:
    """JSONPaths pick the fields, and `+` in the E.164 number reaches the API encoded as %2B."""
    crm = await make(url=f"{api.url}/contacts?phone={{e164}}", select=CRM_SELECT)
    assert await crm.lookup(params()) == LookupResult({"name": "Ada Lovelace", "tier": "gold"}, 1)
    assert api.queries == ["/contacts?phone=%2B14155550132"]


async def test_nothing_selected_is_not_found(api: Api, make: Any) -> None:
    """An answer where no JSONPath matches is `not found`, not an empty section."""
    crm = await make(url=f"{api.url}/contacts?phone={{e164}}", select=CRM_SELECT)
    assert await crm.lookup(params("+15555550100")) == LookupResult(None, 0)


async def test_items_apply_select_to_each_item_up_to_limit(api: Api, make: Any) -> None:
    """With `items`, `$` is each list element, data is {"items": [...]}, cut at `limit`."""
    shop = await make(
        url=f"{api.url}/orders?phone={{e164}}",
        items="$.orders",
        select={"order": "$.no", "total": "$.total"},
        limit=3,
    )
    result = await shop.lookup(params())
    assert result == LookupResult(
        {"items": [{"order": 1, "total": 10}, {"order": 2, "total": 20}, {"order": 3, "total": 30}]}, 3
    )


async def test_empty_items_list_is_not_found(api: Api, make: Any) -> None:
    """An `items` path that finds an empty list means the caller is unknown."""
    crm = await make(
        url=f"{api.url}/contacts?phone={{e164}}", items="$.items", select={"name": "$.full_name"}
    )
    assert await crm.lookup(params("+15555550100")) == LookupResult(None, 0)


async def test_404_is_not_found(api: Api, make: Any) -> None:
    """A 404 answer is `not found`."""
    crm = await make(url=f"{api.url}/status/404", select=CRM_SELECT)
    assert await crm.lookup(params()) == LookupResult(None, 0)


async def test_server_error_names_status_and_connector_only(api: Api, make: Any) -> None:
    """A 500 is `HTTP 500 from crm`: no header value, query-string key or response body."""
    crm = await make(
        url=f"{api.url}/status/500?api_key=qs-secret-123&phone={{e164}}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        select=CRM_SELECT,
    )
    with pytest.raises(ConnectorError) as caught:
        await crm.lookup(params())
    assert str(caught.value) == "HTTP 500 from crm"
    assert api.headers[0]["Authorization"] == f"Bearer {TOKEN}"


async def test_body_that_is_not_json_is_an_error(api: Api, make: Any) -> None:
    """A 200 with an HTML body fails with `response was not JSON`."""
    crm = await make(url=f"{api.url}/html", select=CRM_SELECT)
    with pytest.raises(ConnectorError, match=r"^response was not JSON$"):
        await crm.lookup(params())


async def test_cancelled_hanging_request_leaves_nothing_behind(api: Api, make: Any) -> None:
    """When the engine's timeout cancels a hung request, the connection is dropped and no task remains."""
    crm = await make(url=f"{api.url}/hang?phone={{e164}}", select=CRM_SELECT, hedge_ms=50)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await crm.lookup(params())
    await wait_for(lambda: _abandoned(api, 2), WITHIN_S, "both hung requests abandoned")
    assert api.count("hang") == 2
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("http-crm-")]


async def test_hedged_request_takes_the_faster_answer(api: Api, make: Any) -> None:
    """With hedge_ms, a slow first request is overtaken by a second one whose answer is used."""
    crm = await make(url=f"{api.url}/slow_first", select={"by": "$.answered_by"}, hedge_ms=100)
    result = await asyncio.wait_for(crm.lookup(params()), WITHIN_S)  # the first request never answers
    assert result.data == {"by": 2}
    assert api.count("slow_first") == 2
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("http-crm-")]


async def test_fast_answer_sends_no_hedge(api: Api, make: Any) -> None:
    """An answer faster than hedge_ms means only one request was sent."""
    crm = await make(url=f"{api.url}/contacts?phone={{e164}}", select=CRM_SELECT, hedge_ms=500)
    assert (await crm.lookup(params())).data == {"name": "Ada Lovelace", "tier": "gold"}
    assert api.count("contacts") == 1
    # the hedge is only ever sent from inside lookup(): with no request task left, none can follow
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("http-crm-")]


async def test_post_body_is_templated(api: Api, make: Any) -> None:
    """A POST body's strings are filled in; a lone `{name}` keeps the value's own type."""
    crm = await make(
        method="POST",
        url=f"{api.url}/echo",
        select={"name": "$.name"},
        body={"query": {"phone": "{e164}", "account": "{accounting_id}"}, "note": "caller {digits}"},
    )
    assert (await crm.lookup(params(accounting_id=42))).data == {"name": "Ada"}
    assert api.bodies == [{"query": {"phone": ADA, "account": 42}, "note": "caller 4155550132"}]


async def test_missing_url_parameter_is_a_clear_error(api: Api, make: Any) -> None:
    """A placeholder the lookup has no value for says which one."""
    crm = await make(url=f"{api.url}/contacts?id={{accounting_id}}", select=CRM_SELECT)
    with pytest.raises(ConnectorError, match=r"^url needs \{accounting_id\}"):
        await crm.lookup(params())


async def test_check_accepts_any_http_answer(api: Api, make: Any) -> None:
    """check() passes on a 404 (the API answered) even with `needs` placeholders in the URL."""
    crm = await make(url=f"{api.url}/status/404?id={{accounting_id}}", select=CRM_SELECT)
    await crm.check()
    assert api.count("status") == 1


async def test_unreachable_api_is_an_error_for_lookup_and_check(make: Any) -> None:
    """A refused connection is `cannot reach crm`, with no URL or token in the text."""
    crm = await make(
        url=f"http://127.0.0.1:{free_port()}/c?key=qs-secret&p={{e164}}",
        select=CRM_SELECT,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with pytest.raises(ConnectorError, match=r"^cannot reach crm$"):
        await crm.lookup(params())
    with pytest.raises(ConnectorError, match=r"^cannot reach crm$"):
        await crm.check()


async def test_shared_session_is_used_and_left_open(api: Api, make: Any) -> None:
    """With screenpop's session in the context, the connector uses it and close() does not close it."""
    async with aiohttp.ClientSession() as shared:
        crm = await make(http=shared, url=f"{api.url}/contacts?phone={{e164}}", select=CRM_SELECT)
        assert (await crm.lookup(params())).data is not None
        await crm.close()
        assert not shared.closed


@pytest.mark.parametrize("route", ["sized", "chunked"])
async def test_body_up_to_the_cap_is_read_whole(api: Api, make: Any, route: str) -> None:
    """A 5 MiB answer, with or without a Content-Length, is read whole and parsed."""
    crm = await make(url=f"{api.url}/{route}/{MAX_BODY_BYTES}", select={"all": "$"})
    result = await crm.lookup(params())
    assert len(result.data["all"]) == MAX_BODY_BYTES - 2


@pytest.mark.parametrize("route", ["sized", "chunked"])
async def test_body_over_the_cap_is_refused(api: Api, make: Any, route: str) -> None:
    """One byte more than 5 MiB is refused, whether announced by Content-Length or only seen in the chunks."""
    crm = await make(url=f"{api.url}/{route}/{MAX_BODY_BYTES + 1}", select={"all": "$"})
    with pytest.raises(ConnectorError, match=r"^response larger than 5 MiB$"):
        await crm.lookup(params())


async def test_screenpop_session_sends_no_cookie_back(api: Api, make: Any) -> None:
    """A cookie an API sets on one caller's lookup is not sent with the next caller's (no cookie jar)."""
    async with client_session() as shared:
        url = api.url.replace("127.0.0.1", "localhost")  # a host name: cookies set by an IP are never kept
        crm = await make(http=shared, url=f"{url}/cookie?phone={{e164}}", select={"name": "$.name"})
        for _ in range(2):
            assert (await crm.lookup(params())).data == {"name": "Ada"}
    assert api.count("cookie") == 2
    assert [h.get("Cookie") for h in api.headers] == [None, None]


async def test_url_template_quotes_each_value_and_keeps_the_rest(api: Api, make: Any) -> None:
    """Each placeholder (side by side too) gets its value URL-encoded; the literal text is sent as written."""
    crm = await make(
        url=f"{api.url}/contacts?phone={{e164}}&q={{region}}{{digits}}&x=a%20b", select=CRM_SELECT
    )
    await crm.lookup(params(region="U S"))
    assert api.queries == ["/contacts?phone=%2B14155550132&q=U%20S4155550132&x=a%20b"]


def test_bad_jsonpath_is_a_config_error() -> None:
    """A JSONPath that does not parse is refused when the options are validated, naming the field."""
    with pytest.raises(ValidationError, match=r"select.name: '\$\.items\[0\.name' is not a valid JSONPath"):
        HttpOptions(url="https://crm.example/c", select={"name": "$.items[0.name"})
    with pytest.raises(ValidationError, match=r"items: .* is not a valid JSONPath"):
        HttpOptions(url="https://crm.example/c", items="$..[")


def test_http_kind_is_registered_as_an_entry_point() -> None:
    """`kind: http` resolves through the plugin entry-point group to HttpConnector."""
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "http"]
    assert found and found[0].load() is HttpConnector
