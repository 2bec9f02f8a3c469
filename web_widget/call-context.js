// @ts-check
// What a call carries beyond the caller's number (SPEC sections 3 and 5), as words an agent reads
// in two seconds, with no DOM: the direction, the line dialled, the call's attributes, who found
// the customer, the transfers, the hand-off notes and where a transferred-away call went.
//
// Everything here is untrusted card data.  Attributes whose key starts with `secret_` are never
// returned, whatever the server sent (the server already keeps them out of cards: this is defence
// in depth, so a server bug cannot put a PIN on an agent's screen).

import { humanise } from "./format.js";

/** @typedef {{key: string, label: string, value: string, full: string}} AttributeItem  one attribute as shown */
/** @typedef {{agent: string|null, queue: string|null}} TransferTarget  where a call went (both null: out of screenpop) */
/** @typedef {{from_agent: string|null, to_agent: string|null, to_queue: string|null, at: string|null}} Transfer */
/** @typedef {{agent: string|null, disposition: string|null, notes: string|null, at: string|null}} HandoffNote */

export const ATTRIBUTE_VALUE_MAX = 120; // longer values are cut (the whole value is in the tooltip)
export const ATTRIBUTES_MAX = 50; // the server accepts at most 50 attributes per call

/**
 * Whether an attribute key names a secret.  Keys are compared the way the server normalises
 * providers' keys (lower case; `-`, `.` and spaces as `_`), so `Secret-PIN` counts too.
 * @param {unknown} key
 */
export function isSecretKey(key) {
  return String(key).trim().toLowerCase().replace(/[-. ]/g, "_").startsWith("secret_");
}

/**
 * The card as the widget keeps it: its attributes without any `secret_` key, so no part of the
 * widget (nor a host listening to `screenpop:card`) ever holds one.  The card itself is not changed.
 * @param {Record<string, any>} card
 */
export function withoutSecrets(card) {
  const attrs = card.attributes;
  if (!attrs || typeof attrs !== "object" || !Object.keys(attrs).some(isSecretKey)) return card;
  return { ...card, attributes: Object.fromEntries(Object.entries(attrs).filter(([key]) => !isSecretKey(key))) };
}

/** A non-empty single-line text, or null. @param {unknown} value */
function text(value) {
  if (typeof value !== "string") return null;
  const s = value.replace(/\s+/g, " ").trim();
  return s || null;
}

/** @param {Record<string, any>|null|undefined} card */
export function isOutbound(card) {
  return Boolean(card) && card?.direction === "outbound";
}

/** The line's name ("Acme Support"), or null when the card names none. @param {Record<string, any>|null|undefined} card */
export function lineName(card) {
  return text(card && card.line);
}

/** An attribute's value as text: strings trimmed, numbers as sent (an account number is not 1,234), booleans Yes/No. @param {unknown} value */
export function attributeText(value) {
  if (typeof value === "boolean") return value ? "Yes" : "No";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : null;
  return text(value);
}

/**
 * The attributes to show, in the order sent: never a `secret_` one, only plain values (strings,
 * numbers, booleans), keys as words (`account_id` -> "Account id"), long values cut.
 * @param {unknown} attributes
 * @returns {AttributeItem[]}
 */
export function publicAttributes(attributes) {
  if (!attributes || typeof attributes !== "object" || Array.isArray(attributes)) return [];
  /** @type {AttributeItem[]} */
  const items = [];
  for (const [key, raw] of Object.entries(attributes)) {
    if (items.length >= ATTRIBUTES_MAX) break;
    if (isSecretKey(key) || !text(key)) continue;
    const full = attributeText(raw);
    if (full === null) continue;
    const value = full.length > ATTRIBUTE_VALUE_MAX ? `${full.slice(0, ATTRIBUTE_VALUE_MAX - 1)}…` : full;
    items.push({ key, label: humanise(key.trim()), value, full });
  }
  return items;
}

/**
 * "Found by account id A-1001 (not by phone number)" when an attribute of the call, not the
 * number, found the customer (`customer.found_by` = `attribute:KEY`); null otherwise.  A secret
 * key is not even named.
 * @param {Record<string, any>|null|undefined} card
 * @returns {{text: string, key: string|null}|null}
 */
export function foundByText(card) {
  const customer = (card && card.customer) || {};
  const how = text(customer.found_by);
  if (!how || !how.startsWith("attribute:")) return null;
  const key = how.slice("attribute:".length).trim();
  if (!key) return null;
  if (isSecretKey(key)) return { text: "Found by information given during the call (not by phone number)", key: null };
  const attributes = card && card.attributes && typeof card.attributes === "object" ? card.attributes : {};
  const value = attributeText(attributes[key]);
  const label = humanise(key).toLowerCase();
  return { text: `Found by ${label}${value ? ` ${value}` : ""} (not by phone number)`, key };
}

/** Where a call went, as words: "agent-2", "queue billing", "an outside number". @param {TransferTarget} to */
export function targetText(to) {
  if (to.agent) return to.agent;
  if (to.queue) return `queue ${to.queue}`;
  return "an outside number";
}

/**
 * The target of a `call` message with status `transferred`.
 * @param {{agent?: unknown, queue?: unknown}} msg
 * @returns {TransferTarget}
 */
export function transferTarget(msg) {
  return { agent: text(msg.agent), queue: text(msg.queue) };
}

/** What the card says when the call left this agent; null target: only known to have left (/api/calls). @param {TransferTarget|null} to */
export function transferredAwayText(to) {
  return to && (to.agent || to.queue) ? `Transferred to ${targetText(to)}` : "Transferred away";
}

/** The card's transfers, oldest first, each entry's fields as text or null. @param {Record<string, any>|null|undefined} card @returns {Transfer[]} */
export function transfersOf(card) {
  const list = card && Array.isArray(card.transfers) ? card.transfers : [];
  return list
    .filter((t) => t && typeof t === "object")
    .map((t) => ({ from_agent: text(t.from_agent), to_agent: text(t.to_agent), to_queue: text(t.to_queue), at: text(t.at) }));
}

/**
 * The headline of a transferred call for the agent who has it now: "Transferred from agent-1"
 * (" via queue billing" when it came through a queue), else where it was sent; null when the call
 * was never transferred.
 * @param {Transfer[]} transfers
 */
export function transferHeadline(transfers) {
  const last = transfers[transfers.length - 1];
  if (!last) return null;
  const via = last.to_queue && !last.to_agent ? ` via queue ${last.to_queue}` : "";
  if (last.from_agent) return `Transferred from ${last.from_agent}${via}`;
  return last.to_queue && !last.to_agent ? `Transferred to queue ${last.to_queue}` : "Transferred to you";
}

/**
 * The path of a call transferred more than once: "agent-1 → agent-2 → queue billing"; null for
 * one transfer or none (the headline says it all).
 * @param {Transfer[]} transfers
 */
export function transferPath(transfers) {
  if (transfers.length < 2) return null;
  const stops = [transfers[0].from_agent || "?"];
  for (const t of transfers) stops.push(targetText({ agent: t.to_agent, queue: t.to_queue }));
  return stops.join(" → ");
}

/**
 * The hand-off notes worth showing (a disposition or a note), oldest first, dispositions as words.
 * @param {Record<string, any>|null|undefined} card
 * @returns {HandoffNote[]}
 */
export function handoffNotes(card) {
  const list = card && Array.isArray(card.handoff) ? card.handoff : [];
  /** @type {HandoffNote[]} */
  const out = [];
  for (const n of list) {
    if (!n || typeof n !== "object") continue;
    const disposition = text(n.disposition);
    const notes = typeof n.notes === "string" && n.notes.trim() ? n.notes.trim() : null;
    if (!disposition && !notes) continue;
    out.push({ agent: text(n.agent), disposition: disposition && humanise(disposition), notes, at: text(n.at) });
  }
  return out;
}
