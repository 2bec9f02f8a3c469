// @ts-check
// "Missed while away": after a gap the server could not replay (`welcome` with recovered: false),
// the calls that rang meanwhile, fetched from /api/calls.  A fetch that fails is said, with a
// retry, never swallowed: the agent must know the list may be incomplete.  A row that says
// `transferred_away` for a card still on screen means its `transferred` message was lost in the
// gap: the card is told so.

import { fetchCalls } from "./api.js";
import { renderMissed } from "./render.js";

/** @typedef {import("./call-store.js").CallStore} CallStore */
/** @typedef {import("./format.js").Formatter} Formatter */

/**
 * @typedef {object} MissedContext
 * @property {HTMLElement} box  the "missed while away" section
 * @property {CallStore} store
 * @property {() => string} server
 * @property {() => Promise<string|null>} getToken
 * @property {() => Formatter} fmt
 * @property {() => string|null} homeRegion
 * @property {() => void} cleared  the agent pressed Clear
 * @property {(recs: import("./call-store.js").CallRecord[]) => void} transferredAway  cards on screen whose calls were transferred away during the gap
 */

export class MissedWhileAway {
  #ctx;
  /** @type {number|null} when the gap being listed began */
  #lostAt = null;
  /** @type {string|null} why the calls could not be fetched */
  #error = null;

  /** @param {MissedContext} ctx */
  constructor(ctx) {
    this.#ctx = ctx;
  }

  /** Why the last fetch failed, null after one that worked. */
  get error() {
    return this.#error;
  }

  /** Fetch the recent calls and list those received since `lostAt` (ms) that are not on screen. @param {number|null} lostAt */
  async fetch(lostAt) {
    this.#lostAt = lostAt;
    const result = await fetchCalls({ server: this.#ctx.server(), getToken: this.#ctx.getToken, limit: 20 });
    this.#error = result.ok ? null : result.message;
    if (result.ok) {
      const moved = this.#ctx.store.applyTransferredAway(result.calls);
      this.#ctx.store.mergeAway(result.calls, lostAt);
      if (moved.length) this.#ctx.transferredAway(moved);
    }
    this.#render();
  }

  /** Forget the gap and its list: they were another agent's. */
  reset() {
    this.#lostAt = null;
    this.#error = null;
    this.#ctx.store.clearAway();
    this.#render();
  }

  #render() {
    const { box, store } = this.#ctx;
    const items = store.away();
    box.hidden = items.length === 0 && !this.#error;
    if (box.hidden) return box.replaceChildren();
    const onClear = () => {
      store.clearAway();
      this.#error = null;
      this.#render();
      this.#ctx.cleared();
    };
    const onRetry = () => this.fetch(this.#lostAt);
    box.replaceChildren(...renderMissed({ items, error: this.#error, homeRegion: this.#ctx.homeRegion(), fmt: this.#ctx.fmt(), onClear, onRetry }));
  }
}
