// Unit tests of web_widget/call-store.js: the calls' state machine, with no DOM.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { AWAY_SLACK_MS, CallStore, narrowCard } from "../../web_widget/call-store.js";

const card = (status, extra = {}) => ({ call_id: "c1", status, caller: { e164: "+12125550147" }, ...extra });

describe("records and versions", () => {
  test("a first card creates a ringing record and says it is the first sight", () => {
    const store = new CallStore({ now: () => 1000 });
    const applied = store.applyCard({ call_id: "c1", version: 1, complete: false, card: card("ringing") });
    assert.equal(applied.firstSight, true);
    assert.deepEqual(store.snapshot(), [{ call_id: "c1", version: 1, complete: false, status: "ringing", dismissed: false }]);
    assert.equal(store.get("c1").arrivedAt, 1000);
  });

  test("a newer version replaces the card and is not a first sight", () => {
    const store = new CallStore();
    store.applyCard({ call_id: "c1", version: 1, card: card("ringing") });
    const applied = store.applyCard({ call_id: "c1", version: 2, complete: true, card: card("ringing", { customer: { name: "Ada" } }) });
    assert.equal(applied.firstSight, false);
    assert.equal(applied.rec.card.customer.name, "Ada");
    assert.equal(applied.rec.complete, true);
  });

  test("a replayed or older version is ignored, so a card is never shown twice", () => {
    const store = new CallStore();
    store.applyCard({ call_id: "c1", version: 2, card: card("ringing", { queue: "new" }) });
    assert.equal(store.applyCard({ call_id: "c1", version: 2, card: card("ringing") }), null);
    assert.equal(store.applyCard({ call_id: "c1", version: 1, card: card("ringing") }), null);
    assert.equal(store.get("c1").card.queue, "new");
  });

  test("the call id may come from the card, and a frame without id or card is ignored", () => {
    const store = new CallStore();
    assert.equal(store.applyCard({ version: 1 }), null);
    assert.equal(store.applyCard({ call_id: "x", version: 1, card: "not an object" }), null);
    assert.ok(store.applyCard({ version: 1, card: card("ringing") }));
    assert.equal(store.get("c1").version, 1);
  });

  test("a card's status only moves forward", () => {
    const store = new CallStore();
    store.applyCard({ call_id: "c1", version: 1, card: card("ended") });
    store.applyCard({ call_id: "c1", version: 2, card: card("ringing") });
    assert.equal(store.get("c1").status, "ended");
  });

  test("an answered card naming this agent marks the call as mine", () => {
    const store = new CallStore();
    store.agent = "agent-1";
    store.applyCard({ call_id: "c1", version: 1, card: card("answered", { agent: "agent-1" }) });
    store.applyCard({ call_id: "c2", version: 1, card: { ...card("answered", { agent: "agent-2" }), call_id: "c2" } });
    assert.equal(store.get("c1").mine, true);
    assert.equal(store.get("c2").mine, false);
  });

  test("beyond the bound, the oldest records not on screen are dropped first", () => {
    const store = new CallStore({ maxRecords: 3 });
    for (const id of ["a", "b", "c"]) store.record(id).view = {};
    store.record("d"); // not on screen: the only one that may go
    assert.equal(store.size, 3);
    assert.deepEqual(store.records().map((r) => r.callId), ["a", "b", "c"]);
    store.get("a").dismissed = true;
    store.record("e");
    assert.deepEqual(store.records().map((r) => r.callId), ["b", "c", "e"]);
  });
});

describe("call frames and withdrawal", () => {
  test("another agent answering a ringing call withdraws it here", () => {
    const store = new CallStore();
    store.agent = "agent-1";
    store.applyCard({ call_id: "c1", version: 1, card: card("ringing") });
    const applied = store.applyCall({ call_id: "c1", status: "answered", agent: "agent-2" });
    assert.equal(applied.withdrawnBy, "agent-2");
    assert.equal(applied.changed, false);
    assert.equal(store.get("c1").takenBy, "agent-2");
    assert.equal(store.snapshot()[0].status, "withdrawn");
  });

  test("a call is withdrawn once: a second answer by another agent changes nothing", () => {
    const store = new CallStore();
    store.agent = "agent-1";
    store.record("c1");
    store.applyCall({ call_id: "c1", status: "answered", agent: "agent-2" });
    const again = store.applyCall({ call_id: "c1", status: "answered", agent: "agent-3" });
    assert.deepEqual([again.withdrawnBy, again.changed, store.get("c1").takenBy], [null, false, "agent-2"]);
  });

  test("another agent answering a call that no longer rings does not withdraw it", () => {
    const store = new CallStore();
    store.agent = "agent-1";
    store.applyCall({ call_id: "c1", status: "answered", agent: "agent-1" });
    const applied = store.applyCall({ call_id: "c1", status: "answered", agent: "agent-2" });
    assert.equal(applied.withdrawnBy, null);
    assert.equal(store.get("c1").withdrawn, false);
    assert.equal(store.get("c1").mine, true);
  });

  test("this agent's answer makes the call mine and moves its status", () => {
    const store = new CallStore();
    store.agent = "agent-1";
    const applied = store.applyCall({ call_id: "c1", status: "answered", agent: "agent-1" });
    assert.deepEqual([applied.changed, applied.rec.mine, applied.rec.status], [true, true, "answered"]);
    store.applyCall({ call_id: "c1", status: "ended" });
    store.applyCall({ call_id: "c1", status: "answered", agent: "agent-1" });
    assert.equal(store.get("c1").status, "ended");
  });

  test("an answer naming nobody moves the status and keeps the card, but makes the call nobody's", () => {
    // the server names the agent when one held the card: naming nobody means several did (Telnyx)
    const store = new CallStore();
    store.agent = "agent-1";
    const applied = store.applyCall({ call_id: "c1", status: "answered", agent: null });
    assert.deepEqual([applied.changed, applied.rec.mine, applied.rec.status], [true, false, "answered"]);
    assert.equal(applied.rec.withdrawn, false);
    assert.equal(applied.withdrawnBy, null);
  });

  test("a call frame without an id or with an unknown status is ignored", () => {
    const store = new CallStore();
    assert.equal(store.applyCall({ status: "answered" }), null);
    assert.equal(store.applyCall({ call_id: "c1", status: "ringing" }), null);
    assert.equal(store.applyCall({ call_id: "c1", status: "on-hold" }), null);
    assert.equal(store.size, 0);
  });

  test("calls without a card are not in the host's snapshot", () => {
    const store = new CallStore();
    store.applyCall({ call_id: "c1", status: "ended" });
    assert.deepEqual(store.snapshot(), []);
  });
});

describe("no longer ringing here (a withdrawn call frame)", () => {
  const ringing = () => {
    const store = new CallStore();
    store.agent = "agent-1";
    store.applyCard({ call_id: "c1", version: 3, complete: true, card: card("ringing") });
    return store;
  };

  test("a withdrawn frame for this agent stops the call ringing here, once, and leaves its status", () => {
    const store = ringing();
    const applied = store.applyCall({ call_id: "c1", status: "withdrawn", agent: "agent-1" });
    assert.deepEqual([applied.ringStopped, applied.changed, applied.withdrawnBy, applied.transferredTo], [true, true, null, null]);
    assert.deepEqual([applied.rec.ringStopped, applied.rec.withdrawn, applied.rec.status], [true, false, "ringing"]);
    assert.equal(store.snapshot()[0].status, "withdrawn");
    const again = store.applyCall({ call_id: "c1", status: "withdrawn", agent: "agent-1" });
    assert.deepEqual([again.ringStopped, again.changed], [false, false]);
  });

  test("a withdrawn frame naming another agent changes nothing here", () => {
    const store = ringing();
    const applied = store.applyCall({ call_id: "c1", status: "withdrawn", agent: "agent-2" });
    assert.deepEqual([applied.ringStopped, applied.changed, store.get("c1").ringStopped], [false, false, false]);
    assert.equal(store.snapshot()[0].status, "ringing");
  });

  test("a call already taken by another agent, or transferred away, is not withdrawn again", () => {
    const taken = ringing();
    taken.applyCall({ call_id: "c1", status: "answered", agent: "agent-2" });
    assert.equal(taken.applyCall({ call_id: "c1", status: "withdrawn", agent: "agent-1" }).ringStopped, false);
    const away = ringing();
    away.applyCall({ call_id: "c1", status: "transferred", agent: "agent-2" });
    assert.equal(away.applyCall({ call_id: "c1", status: "withdrawn", agent: "agent-1" }).ringStopped, false);
    assert.equal(away.snapshot()[0].status, "transferred");
  });

  test("after the ring stopped, an answer by another agent does not mark it taken", () => {
    const store = ringing();
    store.applyCall({ call_id: "c1", status: "withdrawn", agent: "agent-1" });
    const answered = store.applyCall({ call_id: "c1", status: "answered", agent: "agent-2" });
    assert.deepEqual([answered.withdrawnBy, store.get("c1").withdrawn, store.get("c1").takenBy], [null, false, null]);
  });

  test("a re-ring's version 1 brings the call back, and its later versions follow on from it", () => {
    const store = ringing();
    store.applyCall({ call_id: "c1", status: "withdrawn", agent: "agent-1" });
    store.get("c1").dismissed = true;
    const back = store.applyCard({ call_id: "c1", version: 1, complete: false, card: card("ringing") });
    assert.ok(back, "the re-ring's card must not be dropped as an older version");
    assert.deepEqual([back.rungAgain, back.firstSight, back.transferredIn], [true, false, false]);
    const rec = store.get("c1");
    assert.deepEqual([rec.ringStopped, rec.dismissed, rec.version, rec.complete], [false, false, 1, false]);
    assert.equal(store.snapshot()[0].status, "ringing");
    const grown = store.applyCard({ call_id: "c1", version: 2, complete: true, card: card("ringing") });
    assert.deepEqual([grown.rungAgain, store.get("c1").version], [false, 2]);
    assert.equal(store.applyCard({ call_id: "c1", version: 2, card: card("ringing") }), null); // a duplicate again
  });

  test("a re-ring that re-sends the version held (a card still growing) brings it back too", () => {
    const store = ringing();
    store.applyCall({ call_id: "c1", status: "withdrawn", agent: "agent-1" });
    const back = store.applyCard({ call_id: "c1", version: 3, card: card("ringing") });
    assert.deepEqual([back.rungAgain, back.rec.ringStopped], [true, false]);
  });

  test("notes typed before the ring stopped are kept when it rings again", () => {
    const store = ringing();
    store.get("c1").notes.text = "typed while it rang";
    store.applyCall({ call_id: "c1", status: "withdrawn", agent: "agent-1" });
    const back = store.applyCard({ call_id: "c1", version: 1, card: card("ringing") });
    assert.equal(back.rec.notes.text, "typed while it rang");
  });

  test("a withdrawn frame without a card yet still marks the call, and its first card rings it", () => {
    const store = new CallStore();
    store.agent = "agent-1";
    store.applyCall({ call_id: "c1", status: "withdrawn", agent: "agent-1" });
    assert.deepEqual(store.snapshot(), []);
    const first = store.applyCard({ call_id: "c1", version: 1, card: card("ringing") });
    assert.deepEqual([first.firstSight, first.rec.ringStopped], [true, false]);
  });
});

describe("transfers", () => {
  const moved = (from, to, queue = null) => ({ from_agent: from, to_agent: to, to_queue: queue, at: "2026-11-22T10:05:00.000Z" });

  test("a transferred message marks the call with where it went, once", () => {
    const store = new CallStore();
    store.agent = "agent-1";
    store.applyCard({ call_id: "c1", version: 2, card: card("ringing") });
    store.applyCall({ call_id: "c1", status: "answered", agent: "agent-1" });
    const applied = store.applyCall({ call_id: "c1", status: "transferred", agent: "agent-2", queue: null });
    assert.deepEqual(applied.transferredTo, { agent: "agent-2", queue: null });
    assert.equal(applied.changed, true);
    assert.equal(store.snapshot()[0].status, "transferred");
    assert.equal(store.get("c1").status, "answered"); // it was answered here: notes may still be saved
    const again = store.applyCall({ call_id: "c1", status: "transferred", agent: "agent-3", queue: null });
    assert.deepEqual([again.transferredTo, again.changed, store.get("c1").transferredTo.agent], [null, false, "agent-2"]);
  });

  test("a transfer to a queue, or out of screenpop, keeps what the message said", () => {
    const store = new CallStore();
    store.applyCard({ call_id: "c1", version: 1, card: card("ringing") });
    assert.deepEqual(store.applyCall({ call_id: "c1", status: "transferred", agent: null, queue: "billing" }).transferredTo, { agent: null, queue: "billing" });
    store.applyCard({ call_id: "c2", version: 1, card: { ...card("ringing"), call_id: "c2" } });
    assert.deepEqual(store.applyCall({ call_id: "c2", status: "transferred" }).transferredTo, { agent: null, queue: null });
  });

  test("a call already taken by another agent here is not transferred away again", () => {
    const store = new CallStore();
    store.agent = "agent-1";
    store.applyCard({ call_id: "c1", version: 1, card: card("ringing") });
    store.applyCall({ call_id: "c1", status: "answered", agent: "agent-2" });
    const applied = store.applyCall({ call_id: "c1", status: "transferred", agent: "agent-3" });
    assert.deepEqual([applied.transferredTo, store.snapshot()[0].status], [null, "withdrawn"]);
  });

  test("a card that lists one more transfer arrives as a transfer, with its hand-off", () => {
    const store = new CallStore();
    const first = store.applyCard({ call_id: "c1", version: 4, card: card("ringing", { transfers: [moved("agent-1", "agent-2")], handoff: [] }) });
    assert.deepEqual([first.firstSight, first.transferredIn], [true, true]);
    const later = store.applyCard({ call_id: "c1", version: 5, card: card("ringing", { transfers: [moved("agent-1", "agent-2")] }) });
    assert.equal(later.transferredIn, false);
  });

  test("a secret_ attribute a server let through is not kept with the call", () => {
    const store = new CallStore();
    store.applyCard({ call_id: "c1", version: 1, card: card("ringing", { attributes: { secret_pin: "1234", lang: "fr" } }) });
    assert.deepEqual(store.get("c1").card.attributes, { lang: "fr" });
  });

  test("a late version after the transfer away does not bring the call back", () => {
    const store = new CallStore();
    store.applyCard({ call_id: "c1", version: 2, card: card("ringing") });
    store.applyCall({ call_id: "c1", status: "transferred", agent: "agent-2" });
    const late = store.applyCard({ call_id: "c1", version: 3, card: card("ringing") });
    assert.equal(late.transferredIn, false);
    assert.equal(store.snapshot()[0].status, "transferred");
  });

  test("a transfer back brings the call back, its status kept and its notes too", () => {
    const store = new CallStore();
    store.agent = "agent-1";
    store.applyCard({ call_id: "c1", version: 2, card: card("ringing") });
    store.applyCall({ call_id: "c1", status: "answered", agent: "agent-1" });
    store.get("c1").notes.text = "typed before the transfer";
    store.applyCall({ call_id: "c1", status: "transferred", agent: "agent-2" });
    store.get("c1").dismissed = true;
    const back = store.applyCard({
      call_id: "c1", version: 4, card: card("ringing", { transfers: [moved("agent-1", "agent-2"), moved("agent-2", "agent-1")] }),
    });
    assert.equal(back.transferredIn, true);
    const rec = store.get("c1");
    assert.deepEqual([rec.transferredTo, rec.dismissed, rec.status, rec.notes.text], [null, false, "answered", "typed before the transfer"]);
    assert.equal(store.snapshot()[0].status, "answered");
  });

  test("a call taken by another agent and then transferred here arrives again", () => {
    const store = new CallStore();
    store.agent = "agent-1";
    store.applyCard({ call_id: "c1", version: 1, card: card("ringing") });
    store.applyCall({ call_id: "c1", status: "answered", agent: "agent-2" });
    const later = store.applyCard({ call_id: "c1", version: 2, card: card("ringing") });
    assert.equal(later.rec.withdrawn, true); // a later version of a taken call is not a new arrival
    const moved_here = store.applyCard({ call_id: "c1", version: 3, card: card("ringing", { transfers: [moved("agent-2", "agent-1")] }) });
    assert.deepEqual([moved_here.transferredIn, moved_here.rec.withdrawn, moved_here.rec.takenBy], [true, false, null]);
    assert.equal(store.snapshot()[0].status, "ringing");
  });

  test("/api/calls rows saying transferred_away mark the cards on hand, once, and nothing else", () => {
    const store = new CallStore();
    store.applyCard({ call_id: "c1", version: 1, card: card("answered") });
    store.applyCard({ call_id: "c2", version: 1, card: { ...card("answered"), call_id: "c2" } });
    store.applyCard({ call_id: "c3", version: 1, card: { ...card("answered"), call_id: "c3" } });
    store.applyCall({ call_id: "c3", status: "transferred", agent: "agent-2" });
    const rows = [
      { call_id: "c1", transferred_away: true },
      { call_id: "c2", transferred_away: false },
      { call_id: "c3", transferred_away: true },
      { call_id: "unknown", transferred_away: true },
      null,
    ];
    const moved_away = store.applyTransferredAway(rows);
    assert.deepEqual(moved_away.map((r) => r.callId), ["c1"]);
    assert.deepEqual(store.get("c1").transferredTo, { agent: null, queue: null });
    assert.equal(store.get("c3").transferredTo.agent, "agent-2"); // the message said more: kept
    assert.equal(store.get("c2").transferredTo, null);
    assert.deepEqual(store.applyTransferredAway(rows), []);
  });
});

describe("missed while away", () => {
  const lostAt = Date.parse("2026-01-01T10:00:00Z");
  const at = (ms) => new Date(lostAt + ms).toISOString();

  test("calls received during the gap are listed, newest first", () => {
    const store = new CallStore();
    const count = store.mergeAway(
      [
        { call_id: "early", received_at: at(5000) },
        { call_id: "late", received_at: at(60000) },
      ],
      lostAt,
    );
    assert.equal(count, 2);
    assert.deepEqual(store.away().map((c) => c.call_id), ["late", "early"]);
  });

  test("calls from before the gap (beyond the clock-skew slack) are left out", () => {
    const store = new CallStore();
    store.mergeAway(
      [
        { call_id: "old", received_at: at(-AWAY_SLACK_MS - 1) },
        { call_id: "skewed", received_at: at(-AWAY_SLACK_MS + 1) },
      ],
      lostAt,
    );
    assert.deepEqual(store.away().map((c) => c.call_id), ["skewed"]);
  });

  test("calls already shown as cards are not listed again, and entries without an id are skipped", () => {
    const store = new CallStore();
    store.applyCard({ call_id: "c1", version: 1, card: card("ringing") });
    store.mergeAway([{ call_id: "c1", received_at: at(1) }, null, { received_at: at(2) }, { call_id: "c2", received_at: at(3) }], lostAt);
    assert.deepEqual(store.away().map((c) => c.call_id), ["c2"]);
  });

  test("two fetches merge by call id, and clearing empties the list", () => {
    const store = new CallStore();
    store.mergeAway([{ call_id: "c2", received_at: at(3), status: "ringing" }], lostAt);
    store.mergeAway([{ call_id: "c2", received_at: at(3), status: "missed" }, { call_id: "c3", received_at: at(4) }], lostAt);
    assert.deepEqual(store.away().map((c) => [c.call_id, c.status]), [["c3", undefined], ["c2", "missed"]]);
    store.clearAway();
    assert.deepEqual(store.away(), []);
  });

  test("without a known start of the gap every new call is listed", () => {
    const store = new CallStore();
    store.mergeAway([{ call_id: "ancient", received_at: "2001-01-01T00:00:00Z" }], null);
    assert.deepEqual(store.away().map((c) => c.call_id), ["ancient"]);
  });
});

describe("a role that sees fewer sections", () => {
  const full = card("ringing", {
    sections: { accounting: { status: "ok" }, credit: { status: "ok", data: { rating: "D" } } },
    badges: [{ section: "accounting", text: "Owes" }, { section: "credit", text: "Credit hold" }],
    customer: { name: "Ada", ids: { accounting: "A-1", credit: "C-9" }, matches: 1, conflicts: [{ field: "name", sections: ["accounting", "credit"] }] },
  });

  test("a narrowed card keeps nothing of a section outside the visible ones", () => {
    const narrowed = narrowCard(full, new Set(["accounting"]));
    assert.deepEqual(Object.keys(narrowed.sections), ["accounting"]);
    assert.deepEqual(narrowed.badges, [{ section: "accounting", text: "Owes" }]);
    assert.deepEqual([narrowed.customer.ids, narrowed.customer.conflicts], [{ accounting: "A-1" }, []]);
    assert.doesNotMatch(JSON.stringify(narrowed), /credit|Credit|C-9/);
  });

  test("narrowing to every section a card has changes nothing, and the store narrows what it holds", () => {
    assert.deepEqual(narrowCard(full, new Set(["accounting", "credit"])), full);
    const store = new CallStore();
    store.applyCard({ call_id: "c1", version: 1, card: full });
    store.narrowTo(new Set(["accounting"]));
    assert.deepEqual(Object.keys(store.get("c1").card.sections), ["accounting"]);
  });
});
