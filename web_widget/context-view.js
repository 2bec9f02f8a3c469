// @ts-check
// What a call carries beyond the number, on the card (call-context.js decides the words):
// the hand-off of a transferred call at the top of the card, the call's attributes as a compact
// labelled block, and where a transferred-away call went.  Text nodes only, never HTML.

import { foundByText, handoffNotes, publicAttributes, transferHeadline, transferPath, transfersOf } from "./call-context.js";
import { h } from "./dom.js";

/** @typedef {import("./format.js").Formatter} Formatter */
/** @typedef {Record<string, any>} Card */

/**
 * "Transferred from agent-1 · 10:05", the path when it moved more than once, and the notes left
 * on the call before it came here (who, disposition, when, the text); null for a call never
 * transferred that carries no notes.
 * @param {Card} card
 * @param {Formatter} fmt
 */
export function renderHandoff(card, fmt) {
  const transfers = transfersOf(card);
  const notes = handoffNotes(card);
  if (!transfers.length && !notes.length) return null;
  const box = h("section", { class: "handoff", "data-testid": "handoff", part: "handoff", "aria-label": "Transferred call" });
  const headline = transferHeadline(transfers);
  if (headline) {
    const last = transfers[transfers.length - 1];
    box.append(
      h(
        "p",
        { class: "handoff-head" },
        h("strong", { "data-testid": "transferred-from", text: headline }),
        last.at ? h("span", { class: "muted", text: ` · ${fmt.time(last.at)}` }) : null,
      ),
    );
  }
  const path = transferPath(transfers);
  if (path) box.append(h("p", { class: "handoff-path", "data-testid": "transfer-path", text: path }));
  if (!notes.length) {
    box.append(h("p", { class: "muted", "data-testid": "handoff-empty", text: "No notes were left before the transfer." }));
    return box;
  }
  const list = h("ol", { class: "handoff-notes" });
  for (const note of notes) {
    const meta = [note.agent, note.disposition, note.at ? fmt.time(note.at) : null].filter(Boolean).join(" · ");
    list.append(
      h(
        "li",
        { "data-testid": "handoff-note", "data-agent": note.agent },
        h("div", { class: "handoff-meta", "data-testid": "handoff-meta", text: meta }),
        note.notes ? h("div", { class: "handoff-text", "data-testid": "handoff-text", text: note.notes }) : null,
      ),
    );
  }
  box.append(list);
  return box;
}

/** The call's attributes ("Call details": Account id A-1001 …), never a `secret_` one; null when none. @param {Card} card */
export function renderAttributes(card) {
  const items = publicAttributes(card.attributes);
  if (!items.length) return null;
  const dl = h("dl", { class: "attributes-list" });
  for (const item of items) {
    dl.append(
      h(
        "div",
        { class: "attribute", "data-testid": "attribute", "data-key": item.key },
        h("dt", { text: item.label }),
        h("dd", { "data-testid": "attribute-value", title: item.full === item.value ? null : item.full, text: item.value }),
      ),
    );
  }
  return h("section", { class: "attributes", "data-testid": "attributes", part: "attributes", "aria-label": "Call details" }, h("h3", { text: "Call details" }), dl);
}

/** "Found by account id A-1001 (not by phone number)", or null. @param {Card} card */
export function renderFoundBy(card) {
  const found = foundByText(card);
  if (!found) return null;
  return h("div", { class: "found-by", "data-testid": "found-by", "data-key": found.key, text: found.text });
}
