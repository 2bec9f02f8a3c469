// @ts-check
// Values as an agent reads them: pure functions and a Formatter over Intl, with no DOM.
//
// `display` hints from the welcome say how a field is shown (number, currency, percent, date,
// datetime, link); everything else is plain text.  Nothing here builds nodes (render.js does).

/** @typedef {{format?: string, currency?: string, label?: string, link?: string}} DisplayHint */
/** @typedef {{withheld?: boolean, valid?: boolean, raw?: string, e164?: string, national?: string, international?: string, region?: string, name?: string, location?: string, type?: string}} CallerInfo */

/** Locale-aware formatting of values from their `display` hints, with caches per options. */
export class Formatter {
  /**
   * @param {string|null|undefined} locale  a BCP 47 tag; the runtime's default when empty
   * @param {string|null|undefined} defaultCurrency  for `format: currency` without a `currency`
   */
  constructor(locale, defaultCurrency) {
    this.locale = locale || undefined;
    this.defaultCurrency = defaultCurrency || "USD";
    /** @type {Map<string, any>} */
    this.cache = new Map();
  }

  /**
   * @param {"n"|"d"} kind
   * @param {object} options
   * @returns {{format: (value: any) => string}}  an Intl.NumberFormat ("n") or Intl.DateTimeFormat ("d")
   */
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

  /**
   * Format one field value; `hint` is the field's display entry ({format, currency, ...}).
   * @param {unknown} value
   * @param {DisplayHint|null|undefined} hint
   * @returns {string}
   */
  value(value, hint) {
    if (value === null || value === undefined || value === "") return "—";
    const format = (hint && hint.format) || "text";
    const num = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
    // The server sends an integer beyond ±2^53 - 1 as its digits: Intl formats that text exactly, Number() would round it.
    const exact = Number.isSafeInteger(num) || !/^\s*-?\d+\s*$/.test(String(value)) ? num : String(value).trim();
    switch (format) {
      case "number":
        return Number.isFinite(num) ? this.intl("n", {}).format(exact) : plain(value);
      case "currency":
        return Number.isFinite(num)
          ? this.intl("n", { style: "currency", currency: (hint && hint.currency) || this.defaultCurrency }).format(exact)
          : plain(value);
      case "percent":
        // Ratios, as Intl and spreadsheets do: 0.25 is 25 %.
        return Number.isFinite(num) ? this.intl("n", { style: "percent", maximumFractionDigits: 1 }).format(num) : plain(value);
      case "date":
        return this.date(value);
      case "datetime":
        return this.dateTime(value);
      default:
        return plain(value);
    }
  }

  /** @param {unknown} value */
  date(value) {
    const d = parseDate(value, true);
    return d ? this.intl("d", { dateStyle: "medium" }).format(d) : plain(value);
  }

  /** @param {unknown} value */
  dateTime(value) {
    const d = parseDate(value, false);
    return d ? this.intl("d", { dateStyle: "medium", timeStyle: "short" }).format(d) : plain(value);
  }

  /**
   * A time of day today, else a short date and time; "" when unreadable.
   * @param {unknown} value
   * @param {Date} [now]
   */
  time(value, now = new Date()) {
    const d = parseDate(value, false);
    if (!d) return "";
    const sameDay = d.toDateString() === now.toDateString();
    return this.intl("d", sameDay ? { timeStyle: "short" } : { dateStyle: "short", timeStyle: "short" }).format(d);
  }

  /**
   * "3 min ago" for a cached section's age, coarse on purpose.
   * @param {unknown} seconds
   */
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

/** A value as text: what a hint falls back to when it cannot format it (never "[object Object]"). @param {unknown} value */
function plain(value) {
  if (typeof value === "boolean") return value ? "Yes" : "No";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
// A day kept in a timestamp column arrives as its midnight, naive ("…T00:00:00", from SQL) or UTC: its
// digits are the day meant.  Read as an instant and its UTC day taken, a naive midnight showed the day
// before east of UTC (Berlin, Tokyo); read as an instant in the agent's zone, a UTC one shows the day
// before in the Americas.
const MIDNIGHT = /^(\d{4})-(\d{2})-(\d{2})(?:[T ]00:00(?::00(?:\.0+)?)?(?:Z|[+-]00:?00)?)?$/;

/**
 * A date-only ISO string is a calendar day, not UTC midnight (which would show yesterday in the Americas).
 * @param {unknown} value
 * @param {boolean} dateOnly
 * @returns {Date|null}
 */
export function parseDate(value, dateOnly) {
  if (typeof value !== "string" && typeof value !== "number") return null;
  const m = typeof value === "string" && (dateOnly ? MIDNIGHT : DAY).exec(value);
  if (m) return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * Fill a `link` template with URL-encoded row values; only web, mail and phone links are let through.
 * @param {unknown} template
 * @param {Record<string, unknown>|null|undefined} row
 * @param {string} [base]  what relative links resolve against (the page's URL in a browser)
 * @returns {string|null}
 */
export function linkFor(template, row, base = globalThis.location ? globalThis.location.href : undefined) {
  if (typeof template !== "string" || !template) return null;
  let missing = false;
  const filled = template.replace(/\{([A-Za-z0-9_.-]+)\}/g, (_, field) => {
    const v = row ? row[field] : undefined;
    if (v === null || v === undefined || v === "") missing = true;
    return encodeURIComponent(v === null || v === undefined ? "" : String(v));
  });
  if (missing) return null;
  try {
    const url = new URL(filled, base);
    return ["http:", "https:", "mailto:", "tel:"].includes(url.protocol) ? url.toString() : null;
  } catch (err) {
    return null;
  }
}

/**
 * A field's label: the hint's, else the name with `_`/`-` as spaces and a capital first letter.
 * @param {string} name
 * @param {DisplayHint|null} hint
 */
export function labelOf(name, hint) {
  if (hint && hint.label) return String(hint.label);
  const words = name.replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A code such as `callback_requested` as words: "Callback requested". @param {unknown} code */
export function humanise(code) {
  const s = String(code).replace(/[_-]+/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** @param {unknown} s */
export function normalise(s) {
  return String(s).toLowerCase().replace(/[^a-z0-9]/g, "");
}

/**
 * The number as an agent should read it: national at home, international for a foreign caller.
 * @param {CallerInfo} caller
 * @param {{homeRegion: string|null}} ctx
 * @returns {string}
 */
export function numberText(caller, ctx) {
  // A Twilio Voice SDK client (`client:alice`) has a name and no number: an app call, not a hidden one.
  if (caller.withheld && /^client:/i.test(String(caller.raw || ""))) return "App call (no number)";
  if (caller.withheld) return "Number withheld";
  if (caller.valid === false) return `${caller.raw || caller.e164 || "No number"} (not a valid number)`;
  const national = caller.national || caller.e164 || caller.raw || "";
  // National format misleads for a foreign caller: add the international form then.
  if (caller.region && ctx.homeRegion && caller.region !== ctx.homeRegion && caller.international) {
    return String(caller.international);
  }
  return national;
}

/**
 * Who is calling, as the widget names them: the customer's name, else the caller ID's, and the number.
 * @param {Record<string, any>|null|undefined} card  a card or an /api/calls entry
 * @param {string|null} homeRegion
 */
export function callerLabel(card, homeRegion) {
  const caller = (card && card.caller) || {};
  const customer = (card && card.customer) || {};
  const unknown = card && card.direction === "outbound" ? "Unknown number" : "Unknown caller"; // outbound: the number dialled
  const name = customer.name || caller.name || unknown;
  return { name, number: numberText(caller, { homeRegion }) };
}
