// Unit tests of web_widget/call-context.js: direction, line, attributes, found_by, transfers and
// hand-off notes as the words an agent reads, with no DOM.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  ATTRIBUTE_VALUE_MAX,
  attributeText,
  foundByText,
  handoffNotes,
  isOutbound,
  isSecretKey,
  lineName,
  publicAttributes,
  targetText,
  transferHeadline,
  transferPath,
  transferTarget,
  transferredAwayText,
  transfersOf,
  withoutSecrets,
} from "../../web_widget/call-context.js";

describe("direction and line", () => {
  test("only direction outbound is outbound; a card without one is inbound", () => {
    assert.equal(isOutbound({ direction: "outbound" }), true);
    assert.equal(isOutbound({ direction: "inbound" }), false);
    assert.equal(isOutbound({}), false);
    assert.equal(isOutbound(null), false);
  });

  test("the line's name is shown trimmed, and a null, blank or non-text line is none", () => {
    assert.equal(lineName({ line: "  Acme Support " }), "Acme Support");
    assert.equal(lineName({ line: null }), null);
    assert.equal(lineName({ line: "   " }), null);
    assert.equal(lineName({ line: 42 }), null);
    assert.equal(lineName({}), null);
  });
});

describe("attributes", () => {
  test("keys become words, in the order sent, and numbers keep their digits (no grouping)", () => {
    const items = publicAttributes({ account_id: "A-1001", order_number: 1234567, verified: true, vip: false });
    assert.deepEqual(
      items.map((i) => [i.key, i.label, i.value]),
      [
        ["account_id", "Account id", "A-1001"],
        ["order_number", "Order number", "1234567"],
        ["verified", "Verified", "Yes"],
        ["vip", "Vip", "No"],
      ],
    );
  });

  test("a secret_ attribute is never returned, however its key is written", () => {
    const items = publicAttributes({ secret_pin: "1234", "Secret-Card": "4111", " SECRET.cvv": "999", account_id: "A-1" });
    assert.deepEqual(items.map((i) => i.key), ["account_id"]);
    assert.ok(!JSON.stringify(items).includes("1234") && !JSON.stringify(items).includes("4111"));
  });

  test("secret keys are told apart from keys that merely contain the word", () => {
    assert.equal(isSecretKey("secret_pin"), true);
    assert.equal(isSecretKey("Secret PIN"), true);
    assert.equal(isSecretKey("has_secret_pin"), false);
    assert.equal(isSecretKey("secretary"), false);
  });

  test("the card kept drops secret_ attributes and leaves the card sent untouched", () => {
    const sent = { call_id: "c1", attributes: { account_id: "A-1", secret_pin: "1234" } };
    const kept = withoutSecrets(sent);
    assert.deepEqual(kept.attributes, { account_id: "A-1" });
    assert.equal(sent.attributes.secret_pin, "1234");
    const clean = { call_id: "c2", attributes: { account_id: "A-1" } };
    assert.equal(withoutSecrets(clean), clean);
    assert.equal(withoutSecrets({ call_id: "c3" }).attributes, undefined);
  });

  test("values that are not plain text, numbers or booleans, or are blank, are left out", () => {
    const items = publicAttributes({ a: null, b: { nested: 1 }, c: [1], d: "  ", e: Number.NaN, f: "ok" });
    assert.deepEqual(items.map((i) => i.key), ["f"]);
  });

  test("anything but an object gives no attributes", () => {
    for (const bad of [null, undefined, "text", 3, ["a"]]) assert.deepEqual(publicAttributes(bad), []);
  });

  test("a long value is cut with an ellipsis, and the whole value is kept for the tooltip", () => {
    const long = "x".repeat(ATTRIBUTE_VALUE_MAX + 30);
    const [item] = publicAttributes({ reason: long });
    assert.equal(item.value.length, ATTRIBUTE_VALUE_MAX);
    assert.ok(item.value.endsWith("…"));
    assert.equal(item.full, long);
  });

  test("a value's text collapses line breaks, so one attribute stays on one line", () => {
    assert.equal(attributeText("wants\na refund "), "wants a refund");
    assert.equal(attributeText(0), "0");
  });
});

describe("found by", () => {
  test("an attribute that found the customer is named with its value", () => {
    const card = { attributes: { account_id: "A-1001" }, customer: { name: "Ada", found_by: "attribute:account_id" } };
    assert.deepEqual(foundByText(card), { text: "Found by account id A-1001 (not by phone number)", key: "account_id" });
  });

  test("without the attribute's value on the card, only its name is said", () => {
    const card = { attributes: {}, customer: { found_by: "attribute:policy_no" } };
    assert.equal(foundByText(card)?.text, "Found by policy no (not by phone number)");
  });

  test("found by number, by nothing, or a found_by in an unknown form says nothing", () => {
    assert.equal(foundByText({ customer: { found_by: "number" } }), null);
    assert.equal(foundByText({ customer: { found_by: null } }), null);
    assert.equal(foundByText({ customer: {} }), null);
    assert.equal(foundByText({ customer: { found_by: "attribute:" } }), null);
    assert.equal(foundByText({}), null);
  });

  test("a secret attribute that found the customer is neither named nor shown", () => {
    const card = { attributes: { secret_ssn: "123-45-6789" }, customer: { found_by: "attribute:secret_ssn" } };
    const found = foundByText(card);
    assert.equal(found?.key, null);
    assert.ok(found && !found.text.includes("ssn") && !found.text.includes("123"));
  });
});

describe("transfers", () => {
  const t = (from, agent, queue, at = "2026-11-22T10:05:00.000Z") => ({ from_agent: from, to_agent: agent, to_queue: queue, at });

  test("the receiving agent reads who sent the call, and through which queue", () => {
    assert.equal(transferHeadline(transfersOf({ transfers: [t("agent-1", "agent-2", null)] })), "Transferred from agent-1");
    assert.equal(transferHeadline(transfersOf({ transfers: [t("agent-1", null, "billing")] })), "Transferred from agent-1 via queue billing");
  });

  test("a transfer whose sender is unknown says where it was sent", () => {
    assert.equal(transferHeadline(transfersOf({ transfers: [t(null, null, "billing")] })), "Transferred to queue billing");
    assert.equal(transferHeadline(transfersOf({ transfers: [t(null, "agent-2", null)] })), "Transferred to you");
  });

  test("the headline follows the latest transfer, and the path lists every stop", () => {
    const transfers = transfersOf({ transfers: [t("agent-1", "agent-2", null), t("agent-2", null, "billing"), t("agent-4", "agent-1", null)] });
    assert.equal(transferHeadline(transfers), "Transferred from agent-4");
    assert.equal(transferPath(transfers), "agent-1 → agent-2 → queue billing → agent-1");
  });

  test("one transfer has no path, and a call never transferred has no headline", () => {
    assert.equal(transferPath(transfersOf({ transfers: [t("agent-1", "agent-2", null)] })), null);
    assert.equal(transferHeadline(transfersOf({ transfers: [] })), null);
    assert.equal(transferHeadline(transfersOf({})), null);
  });

  test("malformed transfer entries are skipped and odd field types read as unknown", () => {
    const transfers = transfersOf({ transfers: [null, "x", { from_agent: 7, to_agent: "agent-2" }] });
    assert.deepEqual(transfers, [{ from_agent: null, to_agent: "agent-2", to_queue: null, at: null }]);
  });

  test("where a transferred-away call went: an agent, a queue, outside, or only that it left", () => {
    assert.equal(transferredAwayText(transferTarget({ agent: "agent-2", queue: null })), "Transferred to agent-2");
    assert.equal(transferredAwayText(transferTarget({ agent: null, queue: "billing" })), "Transferred to queue billing");
    assert.equal(transferredAwayText(transferTarget({ agent: "agent-2", queue: "billing" })), "Transferred to agent-2");
    assert.equal(transferredAwayText(null), "Transferred away");
    assert.equal(targetText({ agent: null, queue: null }), "an outside number");
  });
});

describe("hand-off notes", () => {
  test("each note keeps who, the disposition in words, the text and when, oldest first", () => {
    const card = {
      handoff: [
        { agent: "agent-1", disposition: "follow_up", notes: "wants a refund\nfor May", at: "2026-11-22T10:04:00Z" },
        { agent: "agent-2", disposition: null, notes: "sent to billing", at: "2026-11-22T10:09:00Z" },
      ],
    };
    assert.deepEqual(handoffNotes(card), [
      { agent: "agent-1", disposition: "Follow up", notes: "wants a refund\nfor May", at: "2026-11-22T10:04:00Z" },
      { agent: "agent-2", disposition: null, notes: "sent to billing", at: "2026-11-22T10:09:00Z" },
    ]);
  });

  test("a note with neither disposition nor text, or a malformed entry, is left out", () => {
    const card = { handoff: [{ agent: "agent-1", disposition: "", notes: "  " }, null, 5, { agent: "agent-2", disposition: "resolved" }] };
    assert.deepEqual(handoffNotes(card), [{ agent: "agent-2", disposition: "Resolved", notes: null, at: null }]);
    assert.deepEqual(handoffNotes({ handoff: "no" }), []);
  });
});
