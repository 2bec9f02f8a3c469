// Unit tests of web_widget/insight.js: which sections are insight, what their lists and advice
// say, and where an answer to a suggestion stands.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Formatter } from "../../web_widget/format.js";
import {
  advice,
  answerFeedback,
  asOfNote,
  emptyFeedback,
  feedbackBody,
  feedbackKey,
  feedbackStatusText,
  insightKind,
  sentence,
  suggestionLists,
  unsavedAnswers,
} from "../../web_widget/insight.js";

const fmt = new Formatter("en-US", "USD");
const PAPER = { product: "SKU-118", name: "Copy paper, letter, case", score: 0.82, reason: "bought 6 times, about every 30 days; last 34 days ago" };
const DOCK = { product: "SKU-240", name: "USB-C docking station", score: 0.41, with: "Laptop 14in", reason: "41% of customers who bought Laptop 14in also bought it" };

describe("which sections are insight", () => {
  test("likely_next or goes_with arrays make a purchases section, even when one list is empty", () => {
    assert.equal(insightKind({ likely_next: [PAPER], goes_with: [DOCK], as_of: "2026-12-01T00:00:00+00:00" }, null), "purchases");
    assert.equal(insightKind({ likely_next: [], goes_with: [DOCK] }, null), "purchases");
    assert.equal(insightKind({ goes_with: [] }, { title: "Insight", rows: "one", fields: {} }), "purchases");
  });

  test("a rule number beside plain values makes a rules section", () => {
    assert.equal(insightKind({ terms: "Prepayment only", say: "Ask about the overdue 120.50 first", rule: 1 }, null), "rules");
    assert.equal(insightKind({ terms: "Net 45", max_order: 2500, hold: false, note: null, rule: 2 }, { rows: "one", fields: {} }), "rules");
  });

  test("ordinary sections stay ordinary: rows, a rule that is not a rule number, nested values, a listed rule field", () => {
    assert.equal(insightKind({ items: [{ likely_next: [] }] }, { rows: "many" }), null);
    assert.equal(insightKind({ balance: 120.5, name: "Ada" }, null), null);
    assert.equal(insightKind({ rule: "R-7", text: "x" }, null), null);
    assert.equal(insightKind({ rule: 0, text: "x" }, null), null);
    assert.equal(insightKind({ rule: 1.5, text: "x" }, null), null);
    assert.equal(insightKind({ rule: 3, address: { city: "Paris" } }, null), null);
    assert.equal(insightKind({ rule: 3, text: "x" }, { rows: "many" }), null);
    assert.equal(insightKind({ rule: 3, text: "x" }, { fields: { rule: { label: "Rule" }, text: {} } }), null);
    assert.equal(insightKind(null, null), null);
    assert.equal(insightKind([PAPER], null), null);
  });
});

describe("purchase suggestions", () => {
  test("two lists in order, each item its name, its code apart, and its reason as a sentence", () => {
    const lists = suggestionLists({ likely_next: [PAPER], goes_with: [DOCK] }, null);
    assert.deepEqual(lists, [
      { key: "likely_next", title: "Likely next", items: [{ product: "SKU-118", name: "Copy paper, letter, case", code: "SKU-118", reason: "Bought 6 times, about every 30 days; last 34 days ago" }] },
      { key: "goes_with", title: "Goes well with", items: [{ product: "SKU-240", name: "USB-C docking station", code: "SKU-240", reason: "41% of customers who bought Laptop 14in also bought it" }] },
    ]);
  });

  test("an item without a name is shown by its product code; one with neither is left out", () => {
    const [list] = suggestionLists({ likely_next: [{ product: "SKU-9", reason: "" }, { score: 0.5 }, "junk", { product: 42 }] }, null);
    assert.deepEqual(list.items, [
      { product: "SKU-9", name: "SKU-9", code: null, reason: "" },
      { product: "42", name: "42", code: null, reason: "" },
    ]);
  });

  test("an empty list is not shown, and display hints choose, order and title the lists", () => {
    assert.deepEqual(suggestionLists({ likely_next: [], goes_with: [DOCK] }, null).map((l) => l.key), ["goes_with"]);
    const meta = { fields: { goes_with: { label: "Suggest with it" }, likely_next: {} } };
    assert.deepEqual(suggestionLists({ likely_next: [PAPER], goes_with: [DOCK] }, meta).map((l) => [l.key, l.title]), [["goes_with", "Suggest with it"], ["likely_next", "Likely next"]]);
    const only = { fields: { likely_next: { label: "Reorder soon" } } };
    assert.deepEqual(suggestionLists({ likely_next: [PAPER], goes_with: [DOCK] }, only).map((l) => l.title), ["Reorder soon"]);
    assert.deepEqual(suggestionLists({ likely_next: [], goes_with: [] }, null), []);
  });

  test("a reason is trimmed and capitalised; a missing one is empty", () => {
    assert.equal(sentence("  bought once, 3 days ago "), "Bought once, 3 days ago");
    assert.equal(sentence(undefined), "");
  });

  test("advice computed for an earlier day says its day; today's says nothing", () => {
    const now = new Date("2026-12-03T15:00:00Z");
    assert.equal(asOfNote({ as_of: "2017-12-01T00:00:00+00:00" }, fmt, now), "Advice as of Dec 1, 2017");
    assert.equal(asOfNote({ as_of: "2026-12-03T14:59:59+00:00" }, fmt, now), null);
    assert.equal(asOfNote({ as_of: "not a date" }, fmt, now), null);
    assert.equal(asOfNote({}, fmt, now), null);
  });
});

describe("rules advice", () => {
  test("`say` is the sentence, other values are label lines, `rule` is kept apart", () => {
    const a = advice({ terms: "Prepayment only", say: "Ask about the overdue 120.50 first", credit_hold: true, rule: 1 }, null, fmt);
    assert.equal(a.say, "Ask about the overdue 120.50 first");
    assert.deepEqual(a.lines.map((l) => [l.field, l.label, l.text]), [["terms", "Terms", "Prepayment only"], ["credit_hold", "Credit hold", "Yes"]]);
  });

  test("display hints give labels, formats and order, and leave out what this rule did not give", () => {
    const meta = { fields: { say: { label: "Say" }, max_order: { label: "Max order", format: "currency" }, terms: { label: "Offer" }, reason: {} } };
    const a = advice({ terms: "Net 45", max_order: 2500, other: "not listed", rule: 2 }, meta, fmt);
    assert.equal(a.say, null);
    assert.deepEqual(a.lines.map((l) => [l.label, l.text]), [["Max order", "$2,500.00"], ["Offer", "Net 45"]]);
  });

  test("a numeric say is read as text; an empty one is no sentence", () => {
    assert.equal(advice({ say: 42, rule: 1 }, null, fmt).say, "42");
    assert.equal(advice({ say: "  ", rule: 1 }, null, fmt).say, null);
  });
});

describe("answers to suggestions", () => {
  const ok = { ok: true, status: 201, message: "" };

  /** A server stand-in the test drives: each send waits until the test answers it. */
  function controlledSend() {
    const calls = [];
    const send = (outcome) => new Promise((resolve) => calls.push({ outcome, resolve }));
    return { calls, send };
  }

  test("the body is the SPEC's, and the key tells sections and products apart", () => {
    assert.deepEqual(JSON.parse(feedbackBody("insight", "SKU-240", "accepted")), { section: "insight", product: "SKU-240", outcome: "accepted" });
    assert.notEqual(feedbackKey("a", "b,c"), feedbackKey("a,b", "c"));
  });

  test("a choice shows at once as saving, then as saved", async () => {
    const fb = emptyFeedback();
    const seen = [];
    const { calls, send } = controlledSend();
    const done = answerFeedback(fb, "accepted", send, () => seen.push([fb.chosen, fb.state, feedbackStatusText(fb)]));
    assert.deepEqual(seen, [["accepted", "saving", "Saving…"]]);
    calls[0].resolve(ok);
    await done;
    assert.deepEqual(seen.at(-1), ["accepted", "saved", "Saved: accepted"]);
    assert.deepEqual(calls.map((c) => c.outcome), ["accepted"]);
  });

  test("changing one's mind sends the new answer; pressing the saved one again sends nothing", async () => {
    const fb = emptyFeedback();
    const sent = [];
    const send = async (outcome) => (sent.push(outcome), ok);
    await answerFeedback(fb, "accepted", send, () => {});
    await answerFeedback(fb, "declined", send, () => {});
    await answerFeedback(fb, "declined", send, () => {});
    assert.deepEqual(sent, ["accepted", "declined"]);
    assert.deepEqual([fb.chosen, fb.saved, feedbackStatusText(fb)], ["declined", "declined", "Saved: not interested"]);
  });

  test("a choice made while a save is under way is sent after it, so the server ends with the latest", async () => {
    const fb = emptyFeedback();
    const { calls, send } = controlledSend();
    const first = answerFeedback(fb, "accepted", send, () => {});
    await answerFeedback(fb, "declined", send, () => {});
    assert.equal(fb.chosen, "declined");
    assert.equal(calls.length, 1); // not two requests racing each other
    calls[0].resolve(ok);
    await new Promise((resolve) => setImmediate(resolve)); // every pending promise job runs first
    assert.deepEqual(calls.map((c) => c.outcome), ["accepted", "declined"]);
    calls[1].resolve(ok);
    await first;
    assert.deepEqual([fb.saved, fb.state], ["declined", "saved"]);
  });

  test("a failed save keeps the choice, says why, and pressing again retries it", async () => {
    const fb = emptyFeedback();
    const answers = [{ ok: false, status: 0, message: "The server could not be reached." }, ok];
    const sent = [];
    const send = async (outcome) => (sent.push(outcome), answers.shift());
    await answerFeedback(fb, "accepted", send, () => {});
    assert.deepEqual([fb.chosen, fb.saved, fb.state], ["accepted", null, "error"]);
    assert.equal(feedbackStatusText(fb), "Not saved: The server could not be reached.");
    await answerFeedback(fb, "accepted", send, () => {});
    assert.deepEqual(sent, ["accepted", "accepted"]);
    assert.deepEqual([fb.saved, fb.state, fb.message], ["accepted", "saved", ""]);
  });

  test("going back to the saved answer after a failed change needs no request", async () => {
    const fb = emptyFeedback();
    const answers = [ok, { ok: false, status: 503, message: "Store unavailable." }];
    const sent = [];
    const send = async (outcome) => (sent.push(outcome), answers.shift());
    await answerFeedback(fb, "accepted", send, () => {});
    await answerFeedback(fb, "declined", send, () => {});
    assert.equal(fb.state, "error");
    await answerFeedback(fb, "accepted", send, () => {});
    assert.deepEqual(sent, ["accepted", "declined"]);
    assert.deepEqual([fb.chosen, fb.saved, fb.state, feedbackStatusText(fb)], ["accepted", "accepted", "saved", "Saved: accepted"]);
  });

  test("only answers being sent or that failed count as unsaved (dismissing would lose them)", () => {
    const answers = new Map([["a", { ...emptyFeedback(), chosen: "accepted", saved: "accepted", state: "saved" }], ["b", emptyFeedback()]]);
    assert.equal(unsavedAnswers(answers), false);
    answers.set("c", { ...emptyFeedback(), chosen: "declined", state: "error", message: "x" });
    assert.equal(unsavedAnswers(answers), true);
    assert.equal(unsavedAnswers(new Map([["d", { ...emptyFeedback(), chosen: "accepted", state: "saving" }]])), true);
  });
});
