// Unit tests of web_widget/admin-model.js: what the IT console shows, from the admin API's JSON.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  connectorRows,
  connectorState,
  deliveryRow,
  failure,
  feedbackRows,
  instances,
  latencyBars,
  latencyScale,
  lookupPath,
  msText,
  plainText,
  Poller,
  providerRows,
  queueRows,
  reloadText,
  tokenProblem,
  traceView,
} from "../../web_widget/admin-model.js";

const one = {
  instance: "a:1",
  instances: undefined,
  connectors: {
    accounting: { state: "closed", calls: 10, errors: 0, timeouts: 0, p50_ms: 4, p95_ms: 9, p99_ms: 20, health: "ok" },
    crm: { state: "open", calls: 3, errors: 3, timeouts: 0, p50_ms: null, p95_ms: null, p99_ms: null, health: "circuit open: cannot reach crm; next try in 12 s" },
  },
  providers: { pbx: { accepted: 5, refused: 2, duplicates: 1, last_refusal: { at: "2026-12-04T00:00:01+00:00", code: "bad_signature", reason: "signature does not match" } } },
  agents_by_queue: { support: 2, sales: 1 },
};

describe("states and bars", () => {
  test("the breaker's state is named; calls failing while closed are a warning", () => {
    assert.deepEqual(connectorState({ state: "open", health: "circuit open: x" }), { word: "open", level: "alert", detail: "circuit open: x" });
    assert.equal(connectorState({ state: "half_open" }).word, "half-open");
    assert.equal(connectorState({ state: "closed", health: "failing: timeout (3 of the last 3 calls)" }).level, "warn");
    assert.deepEqual(connectorState({ state: "closed", health: "ok" }), { word: "closed", level: "ok", detail: "ok" });
  });

  test("bars are widths on one scale (the slowest p99); no calls is an empty bar", () => {
    const scale = latencyScale([one]);
    assert.equal(scale, 20);
    assert.deepEqual(latencyBars(one.connectors.accounting, scale).map((b) => b.pct), [20, 45, 100]);
    assert.deepEqual(latencyBars(one.connectors.crm, scale).map((b) => [b.ms, b.pct]), [[null, 0], [null, 0], [null, 0]]);
    assert.equal(latencyBars({ p50_ms: 0.001 }, 1000)[0].pct, 1); // a call is never drawn as nothing
  });

  test("durations read well", () => {
    assert.equal(msText(null), "—");
    assert.equal(msText(0.42), "0.4 ms");
    assert.equal(msText(12.4), "12 ms");
    assert.equal(msText(1534), "1.5 s");
  });
});

describe("instances side by side", () => {
  const two = {
    instance: "b:2",
    instances: {
      "a:1": { connectors: { accounting: { p99_ms: 50 } }, agents_by_queue: { support: 1 }, feedback: { insight: { accepted: 1, declined: 2 } }, providers: { pbx: { accepted: 1, refused: 1, last_refusal: { at: "2026-12-04T00:00:09+00:00", reason: "stale" } } } },
      "b:2": { connectors: { accounting: { p99_ms: 5 }, orders: {} }, agents_by_queue: { support: 2, sales: 1 }, feedback: { insight: { accepted: 3, declined: 0 } }, providers: { pbx: { accepted: 2, refused: 0 } } },
    },
  };

  test("this instance first, then the others by name; without Redis only this one", () => {
    assert.deepEqual(instances(two).map(([n]) => n), ["b:2", "a:1"]);
    assert.deepEqual(instances(one).map(([n]) => n), ["a:1"]);
  });

  test("a connector one instance lacks (before its reload) is an empty cell there", () => {
    const rows = connectorRows(instances(two));
    assert.deepEqual(rows.map((r) => r.name), ["accounting", "orders"]);
    assert.equal(rows[1].cells[1], undefined);
  });

  test("providers, queues and feedback are summed; the newest refusal wins", () => {
    const views = instances(two);
    assert.deepEqual(providerRows(views), [{ name: "pbx", accepted: 3, refused: 1, duplicates: 0, last: { at: "2026-12-04T00:00:09+00:00", reason: "stale" } }]);
    assert.deepEqual(queueRows(views), [{ queue: "sales", label: "sales", counts: [1, 0], total: 1 }, { queue: "support", label: "support", counts: [2, 1], total: 3 }]);
    assert.deepEqual(feedbackRows(views), [["insight", 4, 2]]);
    assert.equal(latencyScale(views.map(([, v]) => v)), 50);
  });
});

describe("answers", () => {
  test("401 asks to sign in again, 403 says not allowed with the server's reason", () => {
    assert.equal(failure(401, null).kind, "signin");
    const denied = failure(403, { error: { code: "forbidden", message: "the role 'tier1' lacks `admin: true` for this endpoint" } });
    assert.equal(denied.kind, "forbidden");
    assert.match(denied.text, /^Not allowed: the role 'tier1' lacks/);
    assert.match(failure(403, null).text, /^Not allowed/);
    assert.equal(failure(400, { error: { message: "config.yaml: providers[0].kind: …" } }).text, "config.yaml: providers[0].kind: …");
  });

  test("a delivery row marks refusals and never invents a number", () => {
    const row = deliveryRow({ at: "2026-12-04T00:00:01.123+00:00", provider: "pbx", status: 401, code: "bad_signature", reason: "signature does not match", call_id: null, event: null });
    assert.deepEqual(row, { at: "2026-12-04 00:00:01Z", provider: "pbx", status: "401", code: "bad_signature", reason: "signature does not match", call: "", refused: true });
    assert.equal(deliveryRow({ status: 202, event: "ringing", call_id: "c-1" }).call, "ringing c-1");
  });

  test("a reload's answer in one line", () => {
    assert.equal(
      reloadText({ generation: 2, connectors: { added: ["orders"], changed: [], removed: ["crm"], kept: ["a"] }, agents_disconnected: 1 }),
      "Reloaded (generation 2): added orders; removed crm · 1 agent socket closed",
    );
    assert.equal(reloadText({ generation: 3, connectors: {}, agents_disconnected: 0 }), "Reloaded (generation 3): no connector changed");
  });
});

describe("the test lookup", () => {
  test("number, role, attributes and the trace flag in the URL", () => {
    const { path, error } = lookupPath(" +1 415 555 0132 ", "tier1", "order_id=77, lang = de");
    assert.equal(error, null);
    const url = new URL(path, "http://x");
    assert.equal(url.pathname, "/api/lookup");
    assert.equal(url.searchParams.get("number"), "+1 415 555 0132");
    assert.equal(url.searchParams.get("trace"), "1");
    assert.equal(url.searchParams.get("role"), "tier1");
    assert.equal(url.searchParams.get("attr_order_id"), "77");
    assert.equal(url.searchParams.get("attr_lang"), "de");
    assert.equal(new URL(lookupPath("1", "", "").path, "http://x").searchParams.has("role"), false);
  });

  test("a missing number or an attribute without = is said, not sent", () => {
    assert.match(lookupPath("", "", "").error || "", /phone number/);
    assert.match(lookupPath("1", "", "justakey").error || "", /key=value/);
  });

  test("a lookup longer than the server's request line is said, not sent", () => {
    const long = lookupPath("+14155550132", "", `note=${"<b>".repeat(1200)}`);
    assert.equal(long.path, "");
    assert.match(long.error || "", /too long for one lookup \(\d+ characters once encoded; at most 8000\)/);
    assert.ok(lookupPath("+14155550132", "", `note=${"x".repeat(7900)}`).path);
  });

  test("a trace entry reads like the CLI's: headline, why, steps, notes", () => {
    const view = traceView("credit", {
      kind: "sql",
      status: "skipped",
      elapsed_ms: 0,
      why: "skipped: needs accounting.account_id (accounting was not_found)",
      steps: [{ what: "query", statement: "SELECT 1", params: { e164: "+1" }, elapsed_ms: 2.5, rows_read: 0, rows: [] }, { what: "request", url: "u", elapsed_ms: null, error: "cannot reach crm" }],
      notes: ["the query returned no row"],
    });
    assert.equal(view.headline, "credit (sql): skipped · 0 ms");
    assert.equal(view.why, "skipped: needs accounting.account_id (accounting was not_found)");
    assert.equal(view.steps[0].title, "query (2.5 ms)");
    assert.deepEqual(view.steps[0].lines, ["statement: SELECT 1", 'params: {"e164":"+1"}', "rows_read: 0", "rows before mapping: (none)"]);
    assert.equal(view.steps[1].title, "request (no answer)");
    assert.deepEqual(view.steps[1].lines, ["url: u", "error: cannot reach crm"]);
    assert.deepEqual(view.notes, ["the query returned no row"]);
  });

  test("a trace's raw error and rows lose control and bidi-override characters, keep the rest", () => {
    const view = traceView("crm", {
      kind: "http",
      status: "error",
      why: "error: \u202egnp.x",
      steps: [{ what: "request", elapsed_ms: 1, rows: [{ name: "\u2067Ada\u2069 \u05e9\u05dc\u05d5\u05dd" }], error: "<b>\u202e\u0007bad</b>" }],
      notes: [],
    });
    assert.equal(view.why, "error: gnp.x");
    assert.deepEqual(view.steps[0].lines, ["rows before mapping:", '  {"name":"Ada \u05e9\u05dc\u05d5\u05dd"}', "error: <b>bad</b>"]);
    assert.equal(plainText("a\tb\nc\u202d\u0000"), "a\tb\nc");
  });
});

describe("refreshing by itself", () => {
  function fakeEnv() {
    const env = {
      hiddenNow: false,
      timers: new Map(),
      next: 1,
      setTimeout(fn, ms) { const id = env.next++; env.timers.set(id, { fn, ms }); return id; },
      clearTimeout(id) { env.timers.delete(id); },
      hidden: () => env.hiddenNow,
      async fire() { const [id, t] = [...env.timers.entries()][0]; env.timers.delete(id); await t.fn(); },
    };
    return env;
  }

  test("ticks at once, then every period; nothing while hidden; at once when shown again", async () => {
    const env = fakeEnv();
    let ticks = 0;
    const poller = new Poller(async () => { ticks += 1; }, 2000, env);
    poller.start();
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(ticks, 1);
    assert.deepEqual([...env.timers.values()].map((t) => t.ms), [2000]);
    await env.fire();
    await Promise.resolve();
    assert.equal(ticks, 2);
    env.hiddenNow = true;
    poller.visibilityChanged();
    assert.equal(env.timers.size, 0);
    env.hiddenNow = false;
    poller.visibilityChanged();
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(ticks, 3);
    poller.stop();
    assert.equal(env.timers.size, 0);
  });
});

describe("a pasted token", () => {
  test("a JWT passes; a space, a line break or a character outside base64url is said before any request", () => {
    assert.equal(tokenProblem("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJpdC0xIn0.c2lnbmF0dXJl_-"), null);
    for (const bad of ["abc def", "abc\ndef", "eyJ.eyJ.sig\u2026", "tok\u202e", "", "Bearer x"]) {
      assert.match(tokenProblem(bad) || "", /not a token/, JSON.stringify(bad));
    }
  });
});
