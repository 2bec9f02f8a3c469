// @ts-check
// Caller card -> DOM.  Functions of (card, welcome metadata, formatter) that build nodes.
//
// Everything from a card is untrusted text: this module builds nodes with
// createElement/textContent only and never assigns HTML, so a customer named
// `<img src=x onerror=alert(1)>` is shown as those characters.  The value
// formatting itself is pure and lives in format.js.

import { h, isNumeric, valueNode } from "./dom.js";
import { isOutbound } from "./call-context.js";
import { renderFoundBy } from "./context-view.js";
import { callerLabel, humanise, labelOf, normalise, numberText } from "./format.js";
import { insightKind } from "./insight.js";
import { renderAdvice, renderSuggestions, ruleHint } from "./insight-view.js";

/** @typedef {import("./format.js").Formatter} Formatter */
/** @typedef {import("./format.js").DisplayHint} DisplayHint */
/** @typedef {{title?: string, rows?: string, fields?: Record<string, DisplayHint>}} SectionMeta  the welcome's entry for a section */
/** @typedef {import("./insight-view.js").SectionState} SectionState */
/** @typedef {Record<string, any>} Card */

/** @type {Record<string, string>} */
const LINE_TYPES = {
  fixed_line: "Landline",
  mobile: "Mobile",
  fixed_line_or_mobile: "Landline or mobile",
  toll_free: "Toll-free",
  premium_rate: "Premium rate",
  shared_cost: "Shared cost",
  voip: "VoIP",
  personal_number: "Personal number",
  pager: "Pager",
  uan: "Company number",
  voicemail: "Voicemail",
};

/** @type {Record<string, string>} */
const STATUS_TEXT = {
  pending: "Looking up…",
  interrupted: "Not answered (lookup interrupted)",
  not_found: "Not found",
  timeout: "Timed out",
  error: "Unavailable",
  skipped: "Skipped",
};

/**
 * The fields to show, in order: the display hints' order, or every key of the data when none are given.
 * @param {SectionMeta|null} meta
 * @param {Record<string, unknown>[]} rows
 * @returns {[string, DisplayHint][]}
 */
function fieldList(meta, rows) {
  const hinted = meta && meta.fields && Object.keys(meta.fields);
  if (meta && meta.fields && hinted && hinted.length) {
    const fields = meta.fields;
    return hinted.map((name) => [name, fields[name] || {}]);
  }
  /** @type {Set<string>} */
  const seen = new Set();
  for (const row of rows) for (const key of Object.keys(row || {})) seen.add(key);
  return [...seen].map((name) => [name, {}]);
}

// ---------------------------------------------------------------- the element's frame

/**
 * The shadow root's fixed parts: toolbar, connection banner, sign-in warning, live region,
 * "missed while away", empty state and the cards' container.
 * @param {ShadowRoot} shadow
 * @param {{askNotifications: () => void, toggleSound: () => void, retry: () => void}} on
 */
export function renderFrame(shadow, on) {
  const d = {
    dot: h("span", { class: "dot", "aria-hidden": "true" }),
    who: h("span", { class: "who", "data-testid": "agent" }),
    notifyButton: h("button", { type: "button", "data-testid": "enable-notifications", hidden: true, onclick: on.askNotifications, text: "Enable notifications" }),
    soundButton: h("button", { type: "button", "data-testid": "sound-toggle", "aria-pressed": "true", onclick: on.toggleSound, text: "Sound on" }),
    bannerText: h("span", { "data-testid": "status-text" }),
    bannerButton: h("button", { type: "button", "data-testid": "retry", onclick: on.retry, text: "Retry now" }),
    expiring: h("div", { class: "banner expiring", "data-testid": "token-expiring", role: "alert", part: "banner", hidden: true }),
    live: h("div", { class: "sr-only", "data-testid": "live-region", role: "status", "aria-live": "assertive", "aria-atomic": "true" }),
    awayBox: h("section", { class: "away", "data-testid": "missed-while-away", hidden: true, "aria-label": "Calls missed while disconnected" }),
    empty: h("p", { class: "empty", "data-testid": "empty", text: "Waiting for calls…" }),
    cardList: h("div", { class: "cards", "data-testid": "cards", part: "cards", tabindex: "-1", role: "region", "aria-label": "Calls" }),
  };
  const banner = h("div", { class: "banner", "data-testid": "status-banner", "data-state": "connecting", part: "banner" }, d.bannerText, d.bannerButton);
  const toolbar = h("div", { class: "toolbar" }, h("h2", { text: "Calls" }), h("span", {}, d.dot, d.who), d.notifyButton, d.soundButton);
  shadow.append(h("div", { class: "root", part: "root" }, toolbar, banner, d.expiring, d.live, d.awayBox, d.empty, d.cardList));
  return { ...d, banner };
}

// ---------------------------------------------------------------- caller

/**
 * The caller block: name, number as the agent reads it, location and line type.  For an outbound
 * call the card is about the number dialled, so it says "Calling" above it; when the customer was
 * found by an attribute of the call rather than the number, it says so under the name.
 * @param {Card} card @param {{homeRegion: string|null}} ctx
 */
export function renderCaller(card, ctx) {
  const caller = card.caller || {};
  const customer = card.customer || {};
  const outbound = isOutbound(card);
  const name = customer.name || caller.name || (outbound ? "Unknown number" : "Unknown caller");
  const block = h("div", { class: "caller", "data-testid": "caller", part: "caller" });
  if (outbound) block.append(h("div", { class: "caller-role", "data-testid": "caller-role", text: "Calling" }));
  block.append(h("div", { class: "caller-name", "data-testid": "caller-name", text: name }));
  const foundBy = renderFoundBy(card);
  if (foundBy) block.append(foundBy);
  block.append(h("div", { class: "caller-number", "data-testid": "caller-number" }, numberText(caller, ctx)));
  const meta = [];
  if (caller.location) meta.push(String(caller.location));
  if (LINE_TYPES[caller.type]) meta.push(LINE_TYPES[caller.type]);
  if (customer.name && caller.name && normalise(caller.name) !== normalise(customer.name)) {
    meta.push(`Caller ID: ${caller.name}`);
  }
  if (meta.length) block.append(h("div", { class: "caller-meta", "data-testid": "caller-meta", text: meta.join(" · ") }));
  return block;
}

// ---------------------------------------------------------------- badges and duplicates

/** The badge row (a possible duplicate, the server's badges), or null when there is none. @param {Card} card */
export function renderBadges(card) {
  const customer = card.customer || {};
  const conflicts = Array.isArray(customer.conflicts) ? customer.conflicts : [];
  const row = h("div", { class: "badges", "data-testid": "badges", part: "badges" });
  if ((Number(customer.matches) || 0) > 1 || conflicts.length) {
    row.append(h("span", { class: "badge warn", "data-testid": "badge", "data-kind": "duplicate", "data-level": "warn", text: "Possible duplicate" }));
  }
  for (const badge of Array.isArray(card.badges) ? card.badges : []) {
    const level = ["info", "warn", "alert"].includes(badge.level) ? badge.level : "info";
    row.append(
      h("span", {
        class: `badge ${level}`,
        "data-testid": "badge",
        "data-kind": "server",
        "data-level": level,
        "data-section": badge.section || null,
        title: badge.section ? `From ${badge.section}` : null,
        text: badge.text || "",
      }),
    );
  }
  return row.childElementCount ? row : null;
}

/**
 * "2 records match this number" and the fields records disagree on, or null.
 * @param {Card} card
 * @param {(name: string) => string} sectionTitle
 */
export function renderConflicts(card, sectionTitle) {
  const customer = card.customer || {};
  const conflicts = Array.isArray(customer.conflicts) ? customer.conflicts : [];
  const matches = Number(customer.matches) || 0;
  if (!conflicts.length && matches <= 1) return null;
  const box = h("div", { class: "conflicts", "data-testid": "conflicts", role: "note" });
  if (!conflicts.length) box.append(h("p", { text: `${matches} records match this number` }));
  for (const c of conflicts) {
    const values = Array.isArray(c.values) ? c.values.map(String) : [];
    const where = Array.isArray(c.sections) && c.sections.length ? ` (${c.sections.map(sectionTitle).join(", ")})` : "";
    const isName = c.kind === "rows" || !c.field || c.field === "name";
    const head = isName
      ? `${Math.max(values.length, matches, 2)} records match this number`
      : `Records disagree on ${labelOf(String(c.field), null).toLowerCase()}`;
    box.append(
      h(
        "p",
        { "data-testid": "conflict", "data-field": c.field || null },
        h("strong", { text: head }),
        ": ",
        h("span", { "data-testid": "conflict-values", text: values.join(" / ") }),
        where ? h("span", { class: "where", text: where }) : null,
      ),
    );
  }
  return box;
}

// ---------------------------------------------------------------- sections

/**
 * One connector's section.  `meta` is the welcome's entry (title, rows, fields);
 * `section` is the card's ({status, data, error, cached, age_s}).  Purchase suggestions and
 * rules advice (insight.js tells them by their data) are drawn by insight-view.js.
 * @param {string} name
 * @param {SectionMeta|null} meta
 * @param {Record<string, any>|undefined} section
 * @param {Formatter} fmt
 * @param {SectionState} state
 */
export function renderSection(name, meta, section, fmt, state) {
  const status = (section && section.status) || "pending";
  const title = (section && section.title) || (meta && meta.title) || labelOf(name, null);
  const data = status === "ok" && section ? section.data || {} : null;
  const kind = data ? insightKind(data, meta) : null;
  const el = h("section", {
    class: `section status-${status}`,
    "data-testid": "section",
    "data-section": name,
    "data-status": status,
    "data-kind": kind,
    "data-cached": section && section.cached ? "true" : null,
    part: "section",
    "aria-busy": status === "pending" ? "true" : null,
  });
  const head = h("header", { class: "section-head" }, h("h3", { text: title }));
  if (section && section.cached && section.age_s !== undefined) {
    head.append(h("span", { class: "age", "data-testid": "section-age", title: "Served from cache", text: `cached ${fmt.age(section.age_s)}` }));
  }
  if (status !== "ok") head.append(statusChip(status, section));
  if (kind === "rules") head.append(ruleHint(data));
  el.append(head);
  if (kind === "purchases") el.append(renderSuggestions(name, meta, data, fmt, state));
  else if (kind === "rules") el.append(renderAdvice(meta, data, fmt));
  else if (data) el.append(sectionBody(name, meta, data, fmt, state));
  return el;
}

/** @param {string} status @param {Record<string, any>|undefined} section */
function statusChip(status, section) {
  const chip = h("span", { class: `chip ${status}`, "data-testid": "section-status" });
  if (status === "pending") chip.append(h("span", { class: "spinner", "aria-hidden": "true" }));
  // its own box that never shrinks: the page-wide `overflow-wrap: anywhere` would let a long error
  // beside it squeeze the word to a letter a line
  chip.append(h("span", { class: "status-word", text: STATUS_TEXT[status] || status }));
  if (status === "error" && section && section.error) {
    chip.append(h("span", { class: "error-text", "data-testid": "section-error", text: `: ${String(section.error).slice(0, 160)}` }));
  }
  return chip;
}

/** @param {string} name @param {SectionMeta|null} meta @param {Record<string, any>} data @param {Formatter} fmt @param {SectionState} state */
function sectionBody(name, meta, data, fmt, state) {
  const many = Array.isArray(data.items) || (meta && meta.rows === "many");
  if (many) return rowsTable(name, meta, Array.isArray(data.items) ? data.items : [], fmt, state);
  const fields = fieldList(meta, [data]);
  const dl = h("dl", { class: "fields" });
  for (const [field, hint] of fields) {
    dl.append(
      h(
        "div",
        { class: "field", "data-testid": "field", "data-field": field },
        h("dt", { text: labelOf(field, hint) }),
        h("dd", { "data-testid": "field-value", class: isNumeric(hint) ? "num" : null }, valueNode(data, field, hint, fmt)),
      ),
    );
  }
  return dl;
}

const ROWS_SHOWN = 5;

/**
 * A row as the table reads it: an object as it is; anything else a source put in `items` (a string,
 * a number, a list, null) as its one `value`, not a column per character or index.
 * @param {unknown} item @returns {Record<string, unknown>}
 */
function asRow(item) {
  return item !== null && typeof item === "object" && !Array.isArray(item) ? /** @type {Record<string, unknown>} */ (item) : { value: item };
}

/** @param {string} name @param {SectionMeta|null} meta @param {unknown[]} sent @param {Formatter} fmt @param {SectionState} state */
function rowsTable(name, meta, sent, fmt, state) {
  if (!sent.length) return h("p", { class: "muted", text: "No rows" });
  const items = sent.map(asRow);
  const fields = fieldList(meta, items);
  const expanded = state.expanded.has(name);
  const shown = expanded ? items : items.slice(0, ROWS_SHOWN);
  const table = h(
    "table",
    { class: "rows", "data-testid": "section-table" },
    h("thead", {}, h("tr", {}, fields.map(([f, hint]) => h("th", { scope: "col", class: isNumeric(hint) ? "num" : null, text: labelOf(f, hint) })))),
    h(
      "tbody",
      {},
      shown.map((row) =>
        h(
          "tr",
          { "data-testid": "row" },
          fields.map(([f, hint]) => h("td", { "data-field": f, class: isNumeric(hint) ? "num" : null }, h("div", { class: "cell" }, valueNode(row, f, hint, fmt)))),
        ),
      ),
    ),
  );
  const wrap = h("div", { class: "table-wrap" }, table);
  if (items.length > ROWS_SHOWN) {
    wrap.append(
      h("button", {
        type: "button",
        class: "link-button",
        "data-testid": "toggle-rows",
        "aria-expanded": expanded ? "true" : "false",
        onclick: () => state.toggle(name),
        text: expanded ? "Show fewer" : `Show all ${items.length}`,
      }),
    );
  }
  return wrap;
}

// ---------------------------------------------------------------- history

/** "Previous calls", or null when there are none. @param {unknown} history @param {Formatter} fmt */
export function renderHistory(history, fmt) {
  if (!Array.isArray(history) || !history.length) return null;
  const list = h("ol", { class: "history-list" });
  for (const item of history) {
    const head = [fmt.dateTime(item.at), item.agent, item.disposition ? humanise(item.disposition) : null].filter(Boolean).join(" · ");
    list.append(
      h(
        "li",
        { "data-testid": "history-item", "data-call-id": item.call_id || null },
        h("div", { class: "history-head", text: head }),
        item.notes ? h("div", { class: "history-notes", text: String(item.notes) }) : null,
      ),
    );
  }
  return h("div", { class: "history", "data-testid": "history", part: "history" }, h("h3", { text: "Previous calls" }), list);
}

// ---------------------------------------------------------------- missed while away

/**
 * The "Missed while away" box's content: the list, or why it could not be fetched (with a retry).
 * @param {{items: Record<string, any>[], error: string|null, homeRegion: string|null, fmt: Formatter, onClear: () => void, onRetry: () => void}} opts
 * @returns {HTMLElement[]}
 */
export function renderMissed({ items, error, homeRegion, fmt, onClear, onRetry }) {
  const title = items.length ? `Missed while away (${items.length})` : "Missed while away";
  const header = h("header", {}, h("h3", { text: title }), h("button", { type: "button", "data-testid": "clear-missed", onclick: onClear, text: "Clear" }));
  const problem = error
    ? h(
        "p",
        { class: "missed-error", "data-testid": "missed-error", role: "alert" },
        `Calls that rang while you were disconnected could not be listed: ${error}`,
        " ",
        h("button", { type: "button", class: "link-button", "data-testid": "retry-missed", onclick: onRetry, text: "Try again" }),
      )
    : null;
  const list = h("ul", {});
  for (const call of items) {
    const { name, number } = callerLabel(call, homeRegion);
    const status = call.transferred_away === true ? "Transferred away" : humanise(call.status || "unknown");
    const meta = [status, call.answered_by || call.agent, fmt.time(call.received_at)].filter(Boolean).join(" · ");
    list.append(
      h(
        "li",
        { "data-testid": "missed-item", "data-call-id": call.call_id, "data-transferred-away": call.transferred_away === true ? "true" : null },
        h("strong", { text: name }),
        h("span", { text: number }),
        h("span", { class: "muted", text: meta }),
      ),
    );
  }
  return [header, ...(problem ? [problem] : []), ...(items.length ? [list] : [])];
}
