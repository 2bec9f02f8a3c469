// Caller card -> DOM.  Pure functions of (card, welcome metadata, formatter).
//
// Everything from a card is untrusted text: this module builds nodes with
// createElement/textContent only and never assigns HTML, so a customer named
// `<img src=x onerror=alert(1)>` is shown as those characters.

/** createElement with attributes, properties for `on*` handlers, and text/node children. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  appendAll(el, children);
  return el;
}

function appendAll(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

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

const STATUS_TEXT = {
  pending: "Looking up…",
  not_found: "Not found",
  timeout: "Timed out",
  error: "Unavailable",
  skipped: "Skipped",
};

/** Locale-aware formatting of values from their `display` hints, with caches per options. */
export class Formatter {
  constructor(locale, defaultCurrency) {
    this.locale = locale || undefined;
    this.defaultCurrency = defaultCurrency || "USD";
    this.cache = new Map();
  }

  intl(kind, options) {
    const key = kind + JSON.stringify(options);
    let fmt = this.cache.get(key);
    if (!fmt) {
      try {
        fmt = kind === "n" ? new Intl.NumberFormat(this.locale, options) : new Intl.DateTimeFormat(this.locale, options);
      } catch (err) {
        // A bad currency code in the config must not blank the card: fall back to plain numbers.
        fmt = kind === "n" ? new Intl.NumberFormat(this.locale) : new Intl.DateTimeFormat(this.locale);
      }
      this.cache.set(key, fmt);
    }
    return fmt;
  }

  /** Format one field value; `hint` is the field's display entry ({format, currency, ...}). */
  value(value, hint) {
    if (value === null || value === undefined || value === "") return "—";
    const format = (hint && hint.format) || "text";
    const num = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
    switch (format) {
      case "number":
        return Number.isFinite(num) ? this.intl("n", {}).format(num) : String(value);
      case "currency":
        return Number.isFinite(num)
          ? this.intl("n", { style: "currency", currency: (hint && hint.currency) || this.defaultCurrency }).format(num)
          : String(value);
      case "percent":
        // Ratios, as Intl and spreadsheets do: 0.25 is 25 %.
        return Number.isFinite(num) ? this.intl("n", { style: "percent", maximumFractionDigits: 1 }).format(num) : String(value);
      case "date":
        return this.date(value);
      case "datetime":
        return this.dateTime(value);
      default:
        return plain(value);
    }
  }

  date(value) {
    const d = parseDate(value, true);
    return d ? this.intl("d", { dateStyle: "medium" }).format(d) : String(value);
  }

  dateTime(value) {
    const d = parseDate(value, false);
    return d ? this.intl("d", { dateStyle: "medium", timeStyle: "short" }).format(d) : String(value);
  }

  time(value) {
    const d = parseDate(value, false);
    if (!d) return "";
    const sameDay = d.toDateString() === new Date().toDateString();
    return this.intl("d", sameDay ? { timeStyle: "short" } : { dateStyle: "short", timeStyle: "short" }).format(d);
  }

  /** "3 min ago" for a cached section's age, coarse on purpose. */
  age(seconds) {
    const s = Math.max(0, Math.round(Number(seconds) || 0));
    const rtf = this.cache.get("rtf") || new Intl.RelativeTimeFormat(this.locale, { numeric: "auto", style: "short" });
    this.cache.set("rtf", rtf);
    if (s < 60) return rtf.format(-s, "second");
    if (s < 3600) return rtf.format(-Math.round(s / 60), "minute");
    if (s < 86400) return rtf.format(-Math.round(s / 3600), "hour");
    return rtf.format(-Math.round(s / 86400), "day");
  }
}

function plain(value) {
  if (typeof value === "boolean") return value ? "Yes" : "No";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** A date-only ISO string is a calendar day, not UTC midnight (which would show yesterday in the Americas). */
function parseDate(value, dateOnly) {
  if (typeof value !== "string" && typeof value !== "number") return null;
  const m = typeof value === "string" && /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (m) return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return null;
  if (dateOnly && typeof value === "string" && /T00:00:00(\.0+)?(Z|[+-]00:?00)?$/.test(value)) {
    return new Date(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  }
  return d;
}

/** Fill a `link` template with URL-encoded row values; only web, mail and phone links are let through. */
export function linkFor(template, row) {
  if (typeof template !== "string" || !template) return null;
  let missing = false;
  const filled = template.replace(/\{([A-Za-z0-9_.-]+)\}/g, (_, field) => {
    const v = row ? row[field] : undefined;
    if (v === null || v === undefined || v === "") missing = true;
    return encodeURIComponent(v === null || v === undefined ? "" : String(v));
  });
  if (missing) return null;
  try {
    const url = new URL(filled, window.location.href);
    return ["http:", "https:", "mailto:", "tel:"].includes(url.protocol) ? url.toString() : null;
  } catch (err) {
    return null;
  }
}

/** The fields to show, in order: the display hints' order, or every key of the data when none are given. */
function fieldList(meta, rows) {
  const hinted = meta && meta.fields && Object.keys(meta.fields);
  if (hinted && hinted.length) return hinted.map((name) => [name, meta.fields[name] || {}]);
  const seen = new Set();
  for (const row of rows) for (const key of Object.keys(row || {})) seen.add(key);
  return [...seen].map((name) => [name, {}]);
}

function labelOf(name, hint) {
  if (hint && hint.label) return String(hint.label);
  const words = name.replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function valueNode(row, name, hint, fmt) {
  const text = fmt.value(row ? row[name] : undefined, hint);
  const href = hint && hint.link ? linkFor(hint.link, row) : null;
  if (!href) return document.createTextNode(text);
  return h("a", { href, target: "_blank", rel: "noopener noreferrer", part: "link" }, text);
}

function isNumeric(hint) {
  return hint && ["number", "currency", "percent"].includes(hint.format);
}

// ---------------------------------------------------------------- caller

export function renderCaller(card, ctx) {
  const caller = card.caller || {};
  const customer = card.customer || {};
  const name = customer.name || caller.name || "Unknown caller";
  const block = h("div", { class: "caller", "data-testid": "caller", part: "caller" });
  block.append(h("div", { class: "caller-name", "data-testid": "caller-name", text: name }));
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

function normalise(s) {
  return String(s).toLowerCase().replace(/[^a-z0-9]/g, "");
}

/** The number as an agent should read it: national at home, international for a foreign caller. */
export function numberText(caller, ctx) {
  if (caller.withheld) return "Number withheld";
  if (caller.valid === false) return `${caller.raw || caller.e164 || "No number"} (not a valid number)`;
  const national = caller.national || caller.e164 || caller.raw || "";
  // National format misleads for a foreign caller: add the international form then.
  if (caller.region && ctx.homeRegion && caller.region !== ctx.homeRegion && caller.international) {
    return String(caller.international);
  }
  return national;
}

// ---------------------------------------------------------------- badges and duplicates

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
 * `section` is the card's ({status, data, error, cached, age_s}).
 */
export function renderSection(name, meta, section, fmt, state) {
  const status = (section && section.status) || "pending";
  const title = (section && section.title) || (meta && meta.title) || labelOf(name, null);
  const el = h("section", {
    class: `section status-${status}`,
    "data-testid": "section",
    "data-section": name,
    "data-status": status,
    "data-cached": section && section.cached ? "true" : null,
    part: "section",
    "aria-busy": status === "pending" ? "true" : null,
  });
  const head = h("header", { class: "section-head" }, h("h3", { text: title }));
  if (section && section.cached && section.age_s !== undefined) {
    head.append(h("span", { class: "age", "data-testid": "section-age", title: "Served from cache", text: `cached ${fmt.age(section.age_s)}` }));
  }
  if (status !== "ok") head.append(statusChip(status, section));
  el.append(head);
  if (status === "ok") el.append(sectionBody(name, meta, section.data || {}, fmt, state));
  return el;
}

function statusChip(status, section) {
  const chip = h("span", { class: `chip ${status}`, "data-testid": "section-status" });
  if (status === "pending") chip.append(h("span", { class: "spinner", "aria-hidden": "true" }));
  chip.append(STATUS_TEXT[status] || status);
  if (status === "error" && section && section.error) {
    chip.append(h("span", { class: "error-text", "data-testid": "section-error", text: `: ${String(section.error).slice(0, 160)}` }));
  }
  return chip;
}

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

function rowsTable(name, meta, items, fmt, state) {
  if (!items.length) return h("p", { class: "muted", text: "No rows" });
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
          fields.map(([f, hint]) => h("td", { "data-field": f, class: isNumeric(hint) ? "num" : null }, valueNode(row, f, hint, fmt))),
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

export function humanise(code) {
  const s = String(code).replace(/[_-]+/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}
