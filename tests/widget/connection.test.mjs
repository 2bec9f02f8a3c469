// Unit tests of web_widget/connection.js's policy: back-off, token refresh timing, URLs.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { anotherAgent, anotherRole, backoffDelay, CLOSE, refreshDelay, tokenExpiry, wsUrl } from "../../web_widget/connection.js";

const jwt = (payload) => ["e30", Buffer.from(JSON.stringify(payload)).toString("base64url"), "sig"].join(".");

describe("back-off", () => {
  test("the delay doubles per failed attempt from 0.5 s, jittered into [d/2, d]", () => {
    assert.deepEqual([0, 1, 2, 3].map((n) => backoffDelay(n, 500, 15000, () => 0)), [250, 500, 1000, 2000]);
    assert.deepEqual([0, 1, 2, 3].map((n) => backoffDelay(n, 500, 15000, () => 1)), [500, 1000, 2000, 4000]);
  });

  test("the delay never exceeds 15 s, however many attempts failed", () => {
    for (const attempt of [5, 6, 16, 17, 1000]) assert.equal(backoffDelay(attempt, 500, 15000, () => 1), 15000);
    assert.equal(backoffDelay(1000, 500, 15000, () => 0), 7500);
  });

  test("the close codes the widget acts on are the SPEC's", () => {
    assert.deepEqual(CLOSE, { SERVER_RESTART: 1012, BAD_HELLO: 4400, UNAUTHORIZED: 4401, FORBIDDEN_ORIGIN: 4403, HELLO_TIMEOUT: 4408 });
  });
});

describe("token refresh timing", () => {
  const now = 1_000_000;

  test("a long token is refreshed 60 s before its exp", () => {
    assert.equal(refreshDelay(now + 3600_000, now), 3600_000 - 60_000);
  });

  test("a token shorter than 5 minutes is refreshed at 80% of what is left", () => {
    assert.equal(refreshDelay(now + 100_000, now), 80_000);
    assert.equal(refreshDelay(now + 300_000, now), 240_000);
  });

  test("a token already past its exp is refreshed at once", () => {
    assert.equal(refreshDelay(now - 5000, now), 0);
  });

  test("exp is read from the JWT's payload in milliseconds, without verifying", () => {
    assert.equal(tokenExpiry(jwt({ sub: "agent-1", exp: 1767225600 })), 1767225600_000);
  });

  test("a token without a readable numeric exp has none", () => {
    for (const token of [null, "", "not-a-jwt", jwt({ sub: "a" }), jwt({ exp: "soon" }), "a.%%%.b"]) {
      assert.equal(tokenExpiry(token), null, String(token));
    }
  });
});

describe("a token for another agent", () => {
  test("a token whose sub differs from the current one's is another agent's (a new session)", () => {
    assert.equal(anotherAgent(jwt({ sub: "agent-2", exp: 2 }), jwt({ sub: "agent-1", exp: 1 })), true);
  });

  test("the same sub, or a sub that cannot be read on either side, is not (a refresh)", () => {
    const one = jwt({ sub: "agent-1", exp: 1 });
    for (const [token, current] of [[jwt({ sub: "agent-1", exp: 2 }), one], [one, null], [null, one], ["opaque", one], [jwt({ sub: 7 }), one]]) {
      assert.equal(anotherAgent(token, current), false, `${token} after ${current}`);
    }
  });
});

describe("a token for another role", () => {
  test("a role claim added, dropped or changed is another role (a new hello says what it sees)", () => {
    const plain = jwt({ sub: "agent-1", exp: 1 });
    const tier1 = jwt({ sub: "agent-1", exp: 1, role: "tier1" });
    const boss = jwt({ sub: "agent-1", exp: 2, role: "supervisor" });
    assert.deepEqual([anotherRole(boss, tier1), anotherRole(tier1, plain), anotherRole(plain, boss)], [true, true, true]);
  });

  test("the same role claim, or a token that cannot be read, is not", () => {
    const tier1 = jwt({ sub: "agent-1", exp: 1, role: "tier1" });
    assert.deepEqual([anotherRole(jwt({ sub: "agent-1", exp: 9, role: "tier1" }), tier1), anotherRole("opaque", tier1), anotherRole(tier1, null)], [false, false, false]);
  });
});

describe("websocket URL", () => {
  const page = { origin: "https://crm.example", href: "https://crm.example/app/page" };

  test("an https server becomes wss, with /ws after its path", () => {
    assert.equal(wsUrl("https://screenpop.example/sp/", page), "wss://screenpop.example/sp/ws");
  });

  test("no server means the page's own origin; http becomes ws; query and hash are dropped", () => {
    assert.equal(wsUrl(null, page), "wss://crm.example/ws");
    assert.equal(wsUrl("http://10.0.0.5:8080?x=1#y", page), "ws://10.0.0.5:8080/ws");
  });
});
