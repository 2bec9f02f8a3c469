// @ts-check
// Insight sections as an agent reads them, with no DOM: which sections are purchase suggestions
// or rules advice, what their lists and lines say, and where the agent's answer to a suggestion
// stands (SPEC sections 3 and 7).  insight-view.js builds the nodes from what this returns.
//
// The card does not say which connector kind filled a section, so the kind is read from the
// data's shape: `likely_next`/`goes_with` arrays are a `purchases` section's; a `rule` number
// beside plain values is a `rules` section's.  A `rows: many` section, or one whose display
// hints list `rule` as a field to show, is never taken for advice.

import { labelOf } from "./format.js";

/** @typedef {import("./format.js").Formatter} Formatter */
/** @typedef {import("./format.js").DisplayHint} DisplayHint */
/** @typedef {{title?: string, rows?: string, fields?: Record<string, DisplayHint>}} SectionMeta */
/** @typedef {"purchases"|"rules"} InsightKind */
/** @typedef {"likely_next"|"goes_with"} ListKey */
/** @typedef {{product: string|null, name: string, code: string|null, reason: string}} Suggestion  `code` only when it differs from the name */
/** @typedef {{key: ListKey, title: string, items: Suggestion[]}} SuggestionList */
/** @typedef {{field: string, label: string, text: string, hint: DisplayHint}} AdviceLine */
/** @typedef {{say: string|null, lines: AdviceLine[]}} Advice */
/** @typedef {"accepted"|"declined"} Outcome */
/**
 * @typedef {object} FeedbackState  one suggestion's answer: what the agent chose, what the server has
 * @property {Outcome|null} chosen  the agent's latest choice (shown, even before it is saved)
 * @property {Outcome|null} saved  what the server last confirmed
 * @property {"idle"|"saving"|"saved"|"error"} state
 * @property {string} message  why the last save failed
 */
/** @typedef {{ok: boolean, status: number, message: string}} ApiResult */

/** @type {Readonly<Record<ListKey, string>>} */
export const LIST_TITLES = Object.freeze({ likely_next: "Likely next", goes_with: "Goes well with" });
/** What the ✓ and ✕ buttons mean, for their labels and tooltips. @type {Readonly<Record<Outcome, string>>} */
export const OUTCOME_LABEL = Object.freeze({ accepted: "Offered and accepted", declined: "Not interested" });
const SAVED_TEXT = Object.freeze({ accepted: "Saved: accepted", declined: "Saved: not interested" });
const ADVICE_HIDDEN = new Set(["say", "rule"]);

/** @param {unknown} value @returns {value is Record<string, any>} */
function isObject(value) {
  return Boolean(value) && typeof value === "object" && !Array.isArray(value);
}

/** @param {unknown} value */
function isScalar(value) {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

/**
 * Which insight kind a section's data is, or null for an ordinary section.
 * @param {unknown} data
 * @param {SectionMeta|null} meta  the welcome's entry for the section
 * @returns {InsightKind|null}
 */
export function insightKind(data, meta) {
  if (!isObject(data) || Array.isArray(data.items)) return null;
  if (Array.isArray(data.likely_next) || Array.isArray(data.goes_with)) return "purchases";
  const listed = meta && isObject(meta.fields) && Object.hasOwn(meta.fields, "rule");
  if (meta && meta.rows === "many") return null;
  if (Number.isInteger(data.rule) && data.rule >= 1 && !listed && Object.values(data).every(isScalar)) return "rules";
  return null;
}

/** A reason as a sentence: first letter capitalised, no surrounding space. @param {unknown} text */
export function sentence(text) {
  const s = typeof text === "string" ? text.trim() : "";
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** @param {unknown} value @returns {string|null} */
function text(value) {
  if (typeof value === "string" && value.trim()) return value.trim();
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return null;
}

/** @param {unknown} raw @returns {Suggestion|null} */
function suggestion(raw) {
  if (!isObject(raw)) return null;
  const product = text(raw.product);
  const name = text(raw.name) || product;
  if (!name) return null;
  return { product, name, code: product && product !== name ? product : null, reason: sentence(raw.reason) };
}

/**
 * A purchases section's lists, in display order, each with at least one item.  Display hints
 * that name `likely_next` or `goes_with` choose which lists show, in their order, and title them.
 * @param {Record<string, any>} data
 * @param {SectionMeta|null} meta
 * @returns {SuggestionList[]}
 */
export function suggestionLists(data, meta) {
  const fields = meta && isObject(meta.fields) ? meta.fields : {};
  /** @type {ListKey[]} */
  const all = ["likely_next", "goes_with"];
  const hinted = Object.keys(fields).filter((k) => k === "likely_next" || k === "goes_with");
  const keys = /** @type {ListKey[]} */ (hinted.length ? hinted : all);
  return keys
    .map((key) => {
      const hint = fields[key];
      const title = hint && hint.label ? String(hint.label) : LIST_TITLES[key];
      const items = (Array.isArray(data[key]) ? data[key] : []).map(suggestion).filter((s) => s !== null);
      return { key, title, items: /** @type {Suggestion[]} */ (items) };
    })
    .filter((list) => list.items.length > 0);
}

/**
 * "Advice as of 1 Dec 2017" when the advice was computed for an earlier day (a replay or a
 * configured `as_of`); null when it is today's.
 * @param {Record<string, any>} data
 * @param {Formatter} fmt
 * @param {Date} [now]
 */
export function asOfNote(data, fmt, now = new Date()) {
  const at = typeof data.as_of === "string" ? new Date(data.as_of) : null;
  if (!at || Number.isNaN(at.getTime())) return null;
  if (now.getTime() - at.getTime() < 86400000) return null;
  return `Advice as of ${fmt.date(data.as_of)}`;
}

/**
 * A rules section as advice: `say` as the sentence to read out, the other values as label/value
 * lines (the display hints' fields, in their order, when there are any; absent values are left
 * out, as each rule gives its own).  `rule` is not a line: the header shows it discreetly.
 * @param {Record<string, any>} data
 * @param {SectionMeta|null} meta
 * @param {Formatter} fmt
 * @returns {Advice}
 */
export function advice(data, meta, fmt) {
  const fields = meta && isObject(meta.fields) ? meta.fields : {};
  const hinted = Object.keys(fields);
  const names = (hinted.length ? hinted : Object.keys(data)).filter((f) => !ADVICE_HIDDEN.has(f) && Object.hasOwn(data, f));
  const lines = names.map((field) => {
    const hint = fields[field] || {};
    return { field, label: labelOf(field, hint), text: fmt.value(data[field], hint), hint };
  });
  const say = text(data.say);
  return { say, lines };
}

// ---------------------------------------------------------------- feedback

/** @returns {FeedbackState} */
export function emptyFeedback() {
  return { chosen: null, saved: null, state: "idle", message: "" };
}

/** The key of one suggestion's answer on a call. @param {string} section @param {string} product */
export function feedbackKey(section, product) {
  return JSON.stringify([section, product]);
}

/** The body of POST /api/calls/{id}/feedback. @param {string} section @param {string} product @param {Outcome} outcome */
export function feedbackBody(section, product, outcome) {
  return JSON.stringify({ section, product, outcome });
}

/** What the line under a suggestion says. @param {FeedbackState} fb */
export function feedbackStatusText(fb) {
  if (fb.state === "saving") return "Saving…";
  if (fb.state === "error") return `Not saved: ${fb.message}`;
  if (fb.state === "saved" && fb.saved) return SAVED_TEXT[fb.saved];
  return "";
}

/**
 * The agent pressed ✓ or ✕ (or "Try again"): the choice is shown at once and sent.  While a send
 * is under way a new choice waits for it and is sent next, so the server ends with the latest
 * answer (it keeps one per suggestion: a later one replaces the earlier).  A failed send keeps
 * the choice, marked not saved, until the agent presses again.
 * @param {FeedbackState} fb
 * @param {Outcome} outcome
 * @param {(outcome: Outcome) => Promise<ApiResult>} send
 * @param {() => void} changed  called after every change of `fb`
 */
export async function answerFeedback(fb, outcome, send, changed) {
  fb.chosen = outcome;
  if (fb.state === "saving" || (fb.state === "saved" && fb.saved === outcome)) return changed();
  while (fb.chosen && fb.chosen !== fb.saved) {
    const sending = fb.chosen;
    fb.state = "saving";
    fb.message = "";
    changed();
    const result = await send(sending);
    if (!result.ok) {
      fb.state = "error";
      fb.message = result.message;
      return changed();
    }
    fb.saved = sending;
  }
  fb.state = "saved";
  changed();
}

/**
 * Whether any answer on a call is not on the server yet (being sent, or failed): dismissing the
 * card would lose it, so the first press only asks.
 * @param {Map<string, FeedbackState>} answers
 */
export function unsavedAnswers(answers) {
  return [...answers.values()].some((fb) => fb.state === "saving" || fb.state === "error");
}
