// @ts-check
// The IT console's logic without a DOM: what the page shows, computed from the admin API's JSON
// (`/api/admin/status`, `/api/admin/deliveries`, `/api/lookup?trace=1`).  admin-view.js turns these
// plain values into nodes; tests/widget/admin-model.test.mjs runs this file under `node --test`.

/** @typedef {Record<string, any>} Json */

export const REFRESH_MS = 2000;
export const DELIVERIES_SHOWN = 50;
export const MAX_LOOKUP_PATH = 8000;

/** A request's outcome for a person: 401 asks for a new token, 403 says the role is not allowed. */
export const NOT_ALLOWED = "Not allowed: this token's role lacks `admin: true`. Sign in with an IT (admin) token.";
export const SIGNED_OUT = "The server did not accept that token (expired or not valid). Paste a new one.";

// Control characters and the bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069):
// shown as they are, one U+202E in a connector's error would print the rest of the line backwards.
// Line breaks and tabs stay (a trace's JSON rows are laid out on lines).
const UNSHOWABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from a source the server did not clean (a trace's raw rows and errors, a config file's path)
 * as this page shows it: without control or bidi-override characters.
 * @param {unknown} value
 */
export function plainText(value) {
  return String(value ?? "").replace(UNSHOWABLE, "");
}

/** A JWT is three base64url parts joined by dots; a paste may bring a space, a line break or a "…". */
const TOKEN = /^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]*)*$/;

/**
 * Why `token` cannot be one, or null.  Checked before it goes into a header: `fetch` refuses a
 * header with a character outside Latin-1, and the page would only say the server cannot be reached.
 * @param {string} token
 */
export function tokenProblem(token) {
  if (TOKEN.test(token)) return null;
  return "That is not a token: it holds a space, a line break or a character a token never has (a “…” from a copy?). Paste it again.";
}

/**
 * What a failed answer means on this page.
 * @param {number} status @param {Json|null} body
 * @returns {{kind: "signin"|"forbidden"|"error", text: string}}
 */
export function failure(status, body) {
  const message = body && body.error && typeof body.error.message === "string" ? body.error.message : "";
  if (status === 401) return { kind: "signin", text: SIGNED_OUT };
  if (status === 403) return { kind: "forbidden", text: message ? `Not allowed: ${message}` : NOT_ALLOWED };
  return { kind: "error", text: message || `The server answered ${status}.` };
}

/**
 * A connector's state as a word and a level: the breaker's state named, and `failing` when calls fail
 * while the breaker is still closed.
 * @param {Json} c  one connector of the status
 * @returns {{word: string, level: "ok"|"warn"|"alert", detail: string}}
 */
export function connectorState(c) {
  const health = typeof c.health === "string" ? c.health : "";
  if (c.state === "open") return { word: "open", level: "alert", detail: health || "circuit open" };
  if (c.state === "half_open") return { word: "half-open", level: "warn", detail: health || "trying one call" };
  if (health.startsWith("failing")) return { word: "closed", level: "warn", detail: health };
  return { word: "closed", level: "ok", detail: health || "ok" };
}

/**
 * The latency bars of one connector, as widths in percent of `scaleMs` (the slowest p99 shown).
 * @param {Json} c @param {number} scaleMs
 * @returns {{label: string, ms: number|null, pct: number}[]}
 */
export function latencyBars(c, scaleMs) {
  const scale = scaleMs > 0 ? scaleMs : 1;
  return ["p50", "p95", "p99"].map((label) => {
    const ms = typeof c[`${label}_ms`] === "number" ? c[`${label}_ms`] : null;
    const pct = ms === null ? 0 : Math.max(1, Math.min(100, Math.round((ms / scale) * 1000) / 10));
    return { label, ms, pct };
  });
}

/** The bars' common scale: the largest p99 of every connector on every instance (at least 1 ms). @param {Json[]} views */
export function latencyScale(views) {
  let max = 1;
  for (const view of views) {
    for (const c of Object.values(view.connectors || {})) {
      if (typeof c.p99_ms === "number" && c.p99_ms > max) max = c.p99_ms;
    }
  }
  return max;
}

/** A duration for a table cell: "—" when there were no calls, "0.4 ms", "12 ms", "1.2 s". @param {number|null|undefined} ms */
export function msText(ms) {
  if (typeof ms !== "number") return "—";
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

/**
 * The instances to show side by side, this one first: [[name, its status], …].  Without Redis there
 * is only this instance.
 * @param {Json} status
 * @returns {[string, Json][]}
 */
export function instances(status) {
  const own = typeof status.instance === "string" ? status.instance : "this instance";
  const all = status.instances && typeof status.instances === "object" ? status.instances : { [own]: status };
  const names = Object.keys(all).sort((a, b) => (a === own ? -1 : b === own ? 1 : a.localeCompare(b)));
  return names.map((name) => [name, all[name]]);
}

/**
 * One row per connector (in the config's order, those of other instances after), each with its
 * figures per instance (undefined where an instance does not have it, e.g. before its reload).
 * @param {[string, Json][]} views
 * @returns {{name: string, cells: (Json|undefined)[]}[]}
 */
export function connectorRows(views) {
  /** @type {string[]} */
  const names = [];
  for (const [, view] of views) for (const name of Object.keys(view.connectors || {})) if (!names.includes(name)) names.push(name);
  return names.map((name) => ({ name, cells: views.map(([, view]) => (view.connectors || {})[name]) }));
}

/**
 * Providers with accepted and refused counts summed over instances, and the newest refusal.
 * @param {[string, Json][]} views
 * @returns {{name: string, accepted: number, refused: number, duplicates: number, last: Json|null}[]}
 */
export function providerRows(views) {
  /** @type {Map<string, {name: string, accepted: number, refused: number, duplicates: number, last: Json|null}>} */
  const rows = new Map();
  for (const [, view] of views) {
    for (const [name, p] of Object.entries(view.providers || {})) {
      const row = rows.get(name) || { name, accepted: 0, refused: 0, duplicates: 0, last: null };
      row.accepted += Number(p.accepted) || 0;
      row.refused += Number(p.refused) || 0;
      row.duplicates += Number(p.duplicates) || 0;
      const last = p.last_refusal;
      if (last && (!row.last || String(last.at) > String(row.last.at))) row.last = last;
      rows.set(name, row);
    }
  }
  return [...rows.values()];
}

/**
 * Agents online per queue, per instance, and in total.
 * @param {[string, Json][]} views
 * @returns {{queue: string, counts: number[], total: number}[]}
 */
export function queueRows(views) {
  /** @type {string[]} */
  const queues = [];
  for (const [, view] of views) for (const q of Object.keys(view.agents_by_queue || {})) if (!queues.includes(q)) queues.push(q);
  queues.sort();
  return queues.map((queue) => {
    const counts = views.map(([, view]) => Number((view.agents_by_queue || {})[queue]) || 0);
    return { queue, label: plainText(queue), counts, total: counts.reduce((a, b) => a + b, 0) };
  });
}

/** Suggestion feedback counts summed over instances: [[section, accepted, declined], …]. @param {[string, Json][]} views */
export function feedbackRows(views) {
  /** @type {Map<string, [string, number, number]>} */
  const rows = new Map();
  for (const [, view] of views) {
    for (const [section, f] of Object.entries(view.feedback || {})) {
      const row = rows.get(section) || [section, 0, 0];
      row[1] += Number(f.accepted) || 0;
      row[2] += Number(f.declined) || 0;
      rows.set(section, row);
    }
  }
  return [...rows.values()];
}

/**
 * A delivery as table cells: when, provider, outcome and reason; the body, signature and number are
 * never in the API's answer, so none can reach the page.
 * @param {Json} d
 * @returns {{at: string, provider: string, status: string, code: string, reason: string, call: string, refused: boolean}}
 */
export function deliveryRow(d) {
  const status = Number(d.status) || 0;
  return {
    at: typeof d.at === "string" ? d.at.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z") : "",
    provider: String(d.provider || ""),
    status: String(status || ""),
    code: String(d.code || ""),
    reason: String(d.reason || ""),
    call: [d.event, d.call_id].filter(Boolean).join(" "),
    refused: status >= 400,
  };
}

/**
 * The test lookup's URL: the number, the role to see the card as, attributes (`key=value` lines),
 * and the trace.
 * @param {string} number @param {string} role @param {string} attributes
 * @returns {{path: string, error: string|null}}
 */
export function lookupPath(number, role, attributes) {
  const params = new URLSearchParams({ number: number.trim(), trace: "1" });
  if (role) params.set("role", role);
  for (const line of attributes.split(/[\n,;]+/)) {
    const text = line.trim();
    if (!text) continue;
    const at = text.indexOf("=");
    if (at <= 0) return { path: "", error: `Write attributes as key=value (got "${text.slice(0, 40)}").` };
    params.set(`attr_${text.slice(0, at).trim()}`, text.slice(at + 1).trim());
  }
  if (!number.trim()) return { path: "", error: "Type a phone number to look up." };
  const path = `/api/lookup?${params}`;
  // the server reads a request line of 8 kB at most and answers a longer one "malformed HTTP request"
  if (path.length > MAX_LOOKUP_PATH) return { path: "", error: `The number and attributes are too long for one lookup (${path.length} characters once encoded; at most ${MAX_LOOKUP_PATH}).` };
  return { path, error: null };
}

/**
 * One connector's trace as a headline and lines to show under it (the same facts as
 * `screenpop lookup --trace`).
 * @param {string} name @param {Json} entry
 * @returns {{headline: string, why: string|null, steps: {title: string, lines: string[]}[], notes: string[]}}
 */
export function traceView(name, entry) {
  const took = typeof entry.elapsed_ms === "number" ? ` · ${entry.elapsed_ms} ms` : "";
  const steps = (entry.steps || []).map((/** @type {Json} */ step) => ({
    title: plainText(`${step.what} (${step.elapsed_ms === null || step.elapsed_ms === undefined ? "no answer" : msText(step.elapsed_ms)})`),
    lines: stepLines(step).map(plainText),
  }));
  return {
    headline: plainText(`${name} (${entry.kind || "?"}): ${entry.status}${took}`),
    why: entry.why ? plainText(entry.why) : null,
    steps,
    notes: Array.isArray(entry.notes) ? entry.notes.map(plainText).filter((n) => !plainText(entry.why).includes(n)) : [],
  };
}

const SHOWN = ["database", "method", "url", "statement", "headers", "body", "params", "status", "rows_read", "numbers", "rows_indexed", "matched_keys", "failed", "holds"];

/** @param {Json} step */
function stepLines(step) {
  /** @type {string[]} */
  const lines = [];
  for (const key of SHOWN) if (key in step) lines.push(`${key}: ${text(step[key])}`);
  if (Array.isArray(step.rows)) {
    lines.push(step.rows.length ? "rows before mapping:" : "rows before mapping: (none)");
    for (const row of step.rows) lines.push(`  ${text(row)}`);
  }
  if ("response" in step) lines.push(`response: ${text(step.response)}`);
  if (step.error) lines.push(`error: ${step.error}`);
  return lines;
}

/** @param {unknown} value */
function text(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * The roles the test lookup offers: those of the status's config, else the usual ones.
 * @param {Json|null} status
 */
export function roleChoices(status) {
  const roles = status && Array.isArray(status.roles) ? status.roles.map(String) : [];
  return roles.length ? roles : [];
}

/**
 * Calls `tick` every `everyMs` while the page is visible; paused while hidden, and at once on
 * return.  Timers and visibility are injected so tests drive them.
 */
export class Poller {
  /**
   * @param {() => Promise<void>} tick
   * @param {number} everyMs
   * @param {{setTimeout: (fn: () => void, ms: number) => any, clearTimeout: (id: any) => void, hidden: () => boolean}} env
   */
  constructor(tick, everyMs, env) {
    this.tick = tick;
    this.everyMs = everyMs;
    this.env = env;
    /** @type {any} */
    this.timer = null;
    this.running = false;
    this.busy = false;
  }

  start() {
    this.running = true;
    this.#run();
  }

  stop() {
    this.running = false;
    if (this.timer !== null) this.env.clearTimeout(this.timer);
    this.timer = null;
  }

  /** The page was hidden or shown again: a hidden page asks nothing; a shown one refreshes at once. */
  visibilityChanged() {
    if (!this.running) return;
    if (this.env.hidden()) {
      if (this.timer !== null) this.env.clearTimeout(this.timer);
      this.timer = null;
    } else if (this.timer === null && !this.busy) {
      this.#run();
    }
  }

  async #run() {
    this.timer = null;
    if (!this.running || this.env.hidden()) return;
    this.busy = true;
    try {
      await this.tick();
    } finally {
      this.busy = false;
    }
    if (this.running && !this.env.hidden() && this.timer === null) {
      this.timer = this.env.setTimeout(() => this.#run(), this.everyMs);
    }
  }
}

/**
 * What a reload did, in one line: the connectors added, changed and removed, and sockets closed.
 * @param {Json} r  the 200 answer of POST /api/admin/reload
 */
export function reloadText(r) {
  const c = r.connectors || {};
  /** @param {string} label @param {unknown} names */
  const part = (label, names) => (Array.isArray(names) && names.length ? `${label} ${names.join(", ")}` : "");
  const changes = [part("added", c.added), part("changed", c.changed), part("removed", c.removed)].filter(Boolean);
  const closed = Number(r.agents_disconnected) || 0;
  return [
    `Reloaded (generation ${r.generation ?? "?"}): ${changes.length ? changes.join("; ") : "no connector changed"}`,
    closed ? `${closed} agent socket${closed === 1 ? "" : "s"} closed` : "",
  ]
    .filter(Boolean)
    .join(" · ");
}
