// Unit tests of web_widget/interrupted.js: a card whose server died mid-lookup stops saying "Looking up…".
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { FALLBACK_DEADLINE_MS, INTERRUPTED, interruptedCard, InterruptWatch, MARGIN_MS, patienceMs } from "../../web_widget/interrupted.js";

/** A fake clock: timers fire only when the test moves time on. */
function fakeClock() {
  const clock = {
    now: 0,
    next: 1,
    timers: new Map(),
    setTimeout(fn, ms) {
      const id = clock.next++;
      clock.timers.set(id, { fn, at: clock.now + ms });
      return id;
    },
    clearTimeout(id) {
      clock.timers.delete(id);
    },
    advance(ms) {
      clock.now += ms;
      for (const [id, t] of [...clock.timers.entries()].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at > clock.now || !clock.timers.has(id)) continue;
        clock.timers.delete(id);
        t.fn();
      }
    },
  };
  return clock;
}

describe("how long a held version is waited on", () => {
  test("the welcome's card deadline plus the margin", () => {
    assert.equal(patienceMs({ type: "welcome", card: { deadline_ms: 1500 } }), 1500 + MARGIN_MS);
  });

  test("a welcome without a usable deadline (an older server, junk) waits the longest a config allows", () => {
    for (const welcome of [null, {}, { card: null }, { card: { deadline_ms: "soon" } }, { card: { deadline_ms: -5 } }, { card: { deadline_ms: 1e12 } }]) {
      assert.equal(patienceMs(welcome), FALLBACK_DEADLINE_MS + MARGIN_MS, JSON.stringify(welcome));
    }
  });
});

describe("an interrupted card", () => {
  test("its pending sections (or ones without a status) are marked interrupted; answered ones are kept as they were", () => {
    const card = { call_id: "c-1", sections: { accounting: { status: "ok", data: { id: 1 } }, credit: { status: "pending" }, sales: {}, crm: { status: "timeout" } } };
    const marked = interruptedCard(card);
    assert.deepEqual(marked.sections, {
      accounting: { status: "ok", data: { id: 1 } },
      credit: { status: INTERRUPTED },
      sales: { status: INTERRUPTED },
      crm: { status: "timeout" },
    });
    assert.equal(card.sections.credit.status, "pending", "the card received is not changed in place");
  });

  test("a card with nothing pending is returned as it is", () => {
    const card = { sections: { accounting: { status: "ok", data: {} } } };
    assert.equal(interruptedCard(card), card);
  });
});

describe("the watch over incomplete cards", () => {
  test("an incomplete version with no newer one within the deadline and margin expires, once", () => {
    const clock = fakeClock();
    const expired = [];
    const watch = new InterruptWatch(clock, (callId, version) => expired.push([callId, version]));
    watch.held("c-1", 1, false, 3500);
    clock.advance(3499);
    assert.deepEqual(expired, []);
    clock.advance(1);
    assert.deepEqual(expired, [["c-1", 1]]);
    clock.advance(100000);
    assert.deepEqual(expired, [["c-1", 1]]);
    assert.equal(watch.size, 0);
  });

  test("each newer version starts the wait again from its own arrival", () => {
    const clock = fakeClock();
    const expired = [];
    const watch = new InterruptWatch(clock, (callId, version) => expired.push([callId, version]));
    watch.held("c-1", 1, false, 3500);
    clock.advance(3000);
    watch.held("c-1", 2, false, 3500);
    clock.advance(3000);
    assert.deepEqual(expired, []);
    clock.advance(500);
    assert.deepEqual(expired, [["c-1", 2]]);
  });

  test("a complete version ends the wait: nothing expires", () => {
    const clock = fakeClock();
    const expired = [];
    const watch = new InterruptWatch(clock, (callId) => expired.push(callId));
    watch.held("c-1", 1, false, 3500);
    watch.held("c-1", 2, true, 3500);
    clock.advance(100000);
    assert.deepEqual(expired, []);
    assert.equal(watch.size, 0);
  });

  test("calls are watched apart, and clear() stops every wait", () => {
    const clock = fakeClock();
    const expired = [];
    const watch = new InterruptWatch(clock, (callId) => expired.push(callId));
    watch.held("c-1", 1, false, 1000);
    watch.held("c-2", 1, false, 2000);
    clock.advance(1000);
    assert.deepEqual(expired, ["c-1"]);
    watch.held("c-3", 1, false, 1000);
    watch.clear();
    clock.advance(100000);
    assert.deepEqual(expired, ["c-1"]);
  });
});
