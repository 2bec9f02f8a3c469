// Unit tests of web_widget/api.js, the missed-calls fetch and the notes post, with a fake fetch.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { apiUrl, fetchCalls, postFeedback, postNotes, storedNote } from "../../web_widget/api.js";
import { bannerMessage } from "../../web_widget/banner.js";
import { notesStatusText } from "../../web_widget/notes-form.js";
import { Formatter } from "../../web_widget/format.js";

const server = "https://screenpop.example/sp";
const token = async () => "tok";
const json = (status, body) => async () => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

describe("missed calls fetch", () => {
  test("the recent calls are asked for under the server's path, with the Bearer token", async () => {
    const seen = [];
    const fetch = async (url, init) => {
      seen.push([String(url), init.headers.Authorization]);
      return json(200, { calls: [{ call_id: "c1" }] })();
    };
    const result = await fetchCalls({ server, getToken: token, fetch });
    assert.deepEqual(seen, [["https://screenpop.example/sp/api/calls?limit=20", "Bearer tok"]]);
    assert.deepEqual(result, { ok: true, status: 200, message: "", calls: [{ call_id: "c1" }] });
  });

  test("a refused fetch says why, in the server's words", async () => {
    const result = await fetchCalls({ server, getToken: token, fetch: json(503, { error: { code: "unavailable", message: "Store unavailable" } }) });
    assert.deepEqual(result, { ok: false, status: 503, message: "Store unavailable.", calls: [] });
  });

  test("an unreachable server, a failing token provider or an unreadable answer is reported, not thrown", async () => {
    const down = await fetchCalls({ server, getToken: token, fetch: async () => { throw new TypeError("Failed to fetch"); } });
    assert.deepEqual([down.ok, down.status, down.message], [false, 0, "The server could not be reached."]);
    const noToken = await fetchCalls({ server, getToken: async () => { throw new Error("provider"); }, fetch: json(200, {}) });
    assert.equal(noToken.ok, false);
    const garbage = await fetchCalls({ server, getToken: token, fetch: async () => new Response("<html>", { status: 200 }) });
    assert.deepEqual([garbage.ok, garbage.message], [false, "The server's answer could not be read."]);
  });

  test("a 401 without the SPEC's error shape reads as an expired sign-in", async () => {
    const result = await fetchCalls({ server, getToken: token, fetch: async () => new Response("no", { status: 401 }) });
    assert.equal(result.message, "Your sign-in has expired.");
  });
});

describe("notes post", () => {
  test("the notes go to the call's URL with the id encoded, as JSON", async () => {
    const seen = [];
    const fetch = async (url, init) => {
      seen.push([String(url), init.method, init.headers["Content-Type"], init.body]);
      return new Response(null, { status: 204 });
    };
    const result = await postNotes({ server, getToken: token, callId: "a/b c", body: '{"notes":"x"}', fetch });
    assert.deepEqual(seen, [["https://screenpop.example/sp/api/calls/a%2Fb%20c/notes", "POST", "application/json", '{"notes":"x"}']]);
    assert.equal(result.ok, true);
  });

  test("a rejected save carries the server's message", async () => {
    const result = await postNotes({ server, getToken: token, callId: "c1", body: "{}", fetch: json(400, { error: { message: "Unknown disposition" } }) });
    assert.deepEqual(result, { ok: false, status: 400, message: "Unknown disposition.", stored: null });
  });

  test("a saved note comes back as the server stored it, card numbers masked and counted", async () => {
    const stored = { id: 1, disposition: "resolved", notes: "paid **** **** **** 1111", masked: { card_numbers: 1 } };
    const result = await postNotes({ server, getToken: token, callId: "c1", body: "{}", fetch: json(201, stored) });
    assert.deepEqual(result, { ok: true, status: 201, message: "", stored: { disposition: "resolved", notes: "paid **** **** **** 1111", masked: 1 } });
    const refused = await postNotes({ server, getToken: token, callId: "c1", body: "{}", fetch: json(400, { error: { message: "no" } }) });
    assert.equal(refused.stored, null);
  });

  test("an answer without the stored note's fields reads as nothing masked, never as a crash", () => {
    assert.equal(storedNote(null), null);
    assert.deepEqual(storedNote({ notes: 3, masked: { card_numbers: "2" } }), { disposition: null, notes: null, masked: 0 });
  });

  test("the URL resolves a relative server against the page", () => {
    assert.equal(String(apiUrl("/sp", "api/calls", "https://crm.example/x/y")), "https://crm.example/sp/api/calls");
  });
});

describe("feedback post", () => {
  test("an answer goes to the call's feedback URL as JSON with the Bearer token", async () => {
    const seen = [];
    const fetch = async (url, init) => {
      seen.push([String(url), init.method, init.headers.Authorization, init.body]);
      return json(201, { call_id: "c 1", outcome: "accepted" })();
    };
    const body = '{"section":"insight","product":"SKU-240","outcome":"accepted"}';
    const result = await postFeedback({ server, getToken: token, callId: "c 1", body, fetch });
    assert.deepEqual(seen, [["https://screenpop.example/sp/api/calls/c%201/feedback", "POST", "Bearer tok", body]]);
    assert.deepEqual(result, { ok: true, status: 201, message: "" });
  });

  test("a refused or unreachable answer says why instead of throwing", async () => {
    const refused = await postFeedback({ server, getToken: token, callId: "c1", body: "{}", fetch: json(403, { error: { code: "forbidden", message: "you did not receive this call" } }) });
    assert.deepEqual(refused, { ok: false, status: 403, message: "you did not receive this call." });
    const down = await postFeedback({ server, getToken: token, callId: "c1", body: "{}", fetch: async () => { throw new TypeError("Failed to fetch"); } });
    assert.deepEqual(down, { ok: false, status: 0, message: "The server could not be reached." });
  });
});

describe("texts", () => {
  test("the notes status line says what state the save is in", () => {
    const fmt = new Formatter("en-US", null);
    const n = { disposition: "", text: "", state: "error", message: "Unknown disposition.", savedAt: null };
    assert.equal(notesStatusText(n, fmt), "Not saved: Unknown disposition. Your text is kept; press Retry save.");
    assert.equal(notesStatusText({ ...n, state: "dirty" }, fmt), "Not saved yet");
    assert.equal(notesStatusText({ ...n, state: "saved" }, fmt), "Saved");
    assert.equal(notesStatusText({ ...n, state: "saved", masked: 1 }, fmt), "Saved — a card number was masked");
    assert.equal(notesStatusText({ ...n, state: "saved", masked: 2 }, fmt), "Saved — 2 card numbers were masked");
  });

  test("the banner counts down to the next try and names a refused origin", () => {
    assert.equal(bannerMessage({ state: "reconnecting", retryAt: 10_500 }, 8_000, "https://a.example"), "Disconnected — reconnecting in 3 s…");
    assert.equal(bannerMessage({ state: "reconnecting" }, 0, ""), "Disconnected — reconnecting…");
    assert.match(bannerMessage({ state: "forbidden-origin" }, 0, "https://a.example"), /\(https:\/\/a\.example\) is not allowed/);
    assert.match(bannerMessage({ state: "unauthorized", reason: "no-token" }, 0, ""), /no agent token/);
    assert.equal(bannerMessage({ state: "connected" }, 0, ""), "");
  });
});
