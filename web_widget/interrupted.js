// @ts-check
// A card whose lookup was cut off: its server died (kill -9, a crash) between two versions, so no
// newer version will ever come and its pending sections would say "Looking up…" for good, which
// an agent reads as "wait".  The server bounds every card by `card.deadline_ms` (the welcome says
// how long); once that and a margin have passed since this widget received the version it holds,
// with no newer one, the pending sections are shown as not answered ("Lookup interrupted").
// The time is this widget's own clock from when the version arrived, never the server's
// `received_at`: a browser's clock may be minutes off.  A newer version replaces this as usual.

/** Broker, socket and event-loop latency allowed beyond the server's deadline before the card is given up on. */
export const MARGIN_MS = 2000;
/** The deadline assumed when a welcome names none (an older server): the longest a config may set. */
export const FALLBACK_DEADLINE_MS = 60000;
export const INTERRUPTED = "interrupted";

/**
 * How long after receiving an incomplete version the widget waits for the next one.
 * @param {unknown} welcome  the welcome (or role) message held; its `card.deadline_ms` is read
 * @returns {number}
 */
export function patienceMs(welcome) {
  const card = welcome && typeof welcome === "object" ? /** @type {Record<string, any>} */ (welcome).card : null;
  const deadline = card && typeof card === "object" ? Number(card.deadline_ms) : NaN;
  const ms = Number.isFinite(deadline) && deadline > 0 ? Math.min(deadline, FALLBACK_DEADLINE_MS) : FALLBACK_DEADLINE_MS;
  return ms + MARGIN_MS;
}

/**
 * The card with every pending section (or one it never listed a status for) marked interrupted;
 * the same object when nothing was pending.
 * @template {Record<string, any>} C
 * @param {C} card
 * @returns {C}
 */
export function interruptedCard(card) {
  const sections = card && card.sections && typeof card.sections === "object" ? card.sections : null;
  if (!sections) return card;
  const pending = Object.keys(sections).filter((name) => !sections[name] || !sections[name].status || sections[name].status === "pending");
  if (pending.length === 0) return card;
  const marked = { ...sections };
  for (const name of pending) marked[name] = { ...(sections[name] || {}), status: INTERRUPTED };
  return { ...card, sections: marked };
}

/**
 * @typedef {object} Timers
 * @property {(fn: () => void, ms: number) => number} setTimeout
 * @property {(id: number) => void} clearTimeout
 */

/**
 * One timer per incomplete card held: armed when a version arrives, re-armed by the next, dropped
 * by a complete one.  `expired` is called with the call id and the version that was waited on.
 */
export class InterruptWatch {
  /** @type {Map<string, number>} */ #timers = new Map();
  #clock;
  #expired;

  /** @param {Timers} clock @param {(callId: string, version: number) => void} expired */
  constructor(clock, expired) {
    this.#clock = clock;
    this.#expired = expired;
  }

  /** A version of `callId` arrived: wait `ms` for the next one unless this one is complete. @param {string} callId @param {number} version @param {boolean} complete @param {number} ms */
  held(callId, version, complete, ms) {
    this.forget(callId);
    if (complete) return;
    const id = this.#clock.setTimeout(() => {
      this.#timers.delete(callId);
      this.#expired(callId, version);
    }, ms);
    this.#timers.set(callId, id);
  }

  /** @param {string} callId */
  forget(callId) {
    const id = this.#timers.get(callId);
    if (id === undefined) return;
    this.#clock.clearTimeout(id);
    this.#timers.delete(callId);
  }

  /** Every timer stopped (the element left the page, or another agent signed in). */
  clear() {
    for (const callId of [...this.#timers.keys()]) this.forget(callId);
  }

  get size() {
    return this.#timers.size;
  }
}
