// @ts-check
// What the widget does when a call's card or status arrives: the card drawn or updated, what is
// said to a screen reader, ringing and notifying (attention.js), a card cut off by a dead server,
// a card leaving (taken by another agent, transferred away, no longer ringing here, dismissed)
// and the `screenpop:card` / `screenpop:call` / `screenpop:answered` events.  The calls'
// bookkeeping itself is call-store.js; one card's DOM is card-view.js.

import { isOutbound, transferHeadline, transferredAwayText, transfersOf } from "./call-context.js";
import { callerLabel } from "./format.js";
import { interruptedCard, patienceMs } from "./interrupted.js";

/** @typedef {import("./call-store.js").CallRecord} CallRecord */
/** @typedef {import("./call-store.js").CallStore} CallStore */
/** @typedef {import("./card-view.js").CardViews} CardViews */
/** @typedef {import("./interrupted.js").InterruptWatch} InterruptWatch */
/** @typedef {import("./attention.js").Attention} Attention */
/** @typedef {import("./status-bar.js").StatusBar} StatusBar */
/**
 * @typedef {object} ReactionsOptions
 * @property {CallStore} store
 * @property {CardViews} views
 * @property {InterruptWatch} interrupts
 * @property {StatusBar} bar  where announcements are said
 * @property {() => any} welcome  the last welcome (its card deadline)
 * @property {() => Attention|null} attention  ring and notify, while the element is on the page
 * @property {() => string|null} homeRegion  the agent's region, for numbers as they read them
 * @property {(name: string, detail: object) => void} emit  a `screenpop:*` event from the element
 */

export class CallReactions {
  #o;

  /** @param {ReactionsOptions} opts */
  constructor(opts) {
    this.#o = opts;
  }

  /** A `card` message. @param {Record<string, any>} msg */
  applyCard(msg) {
    const { store, views, interrupts, welcome, emit } = this.#o;
    const applied = store.applyCard(msg);
    if (!applied) return;
    const { rec, firstSight, transferredIn, rungAgain } = applied;
    interrupts.held(rec.callId, rec.version, rec.complete, patienceMs(welcome()));
    if (rec.withdrawn || rec.dismissed || rec.transferredTo) return;
    if (transferredIn || rungAgain) views.stay(rec); // back (transferred here, or rung again) while its card was still fading out
    views.render(rec, false);
    emit("screenpop:card", { call_id: rec.callId, version: rec.version, complete: rec.complete, card: rec.card });
    this.#attend(rec, firstSight || transferredIn || rungAgain);
  }

  /** No version after `version` came within the card deadline: its pending sections will never be answered. @param {string} callId @param {number} version */
  interrupted(callId, version) {
    const rec = this.#o.store.get(callId);
    if (!rec || !rec.card || rec.complete || rec.version !== version) return;
    rec.card = interruptedCard(rec.card);
    if (rec.view) this.#o.views.render(rec, false);
  }

  /** A `call` message. @param {Record<string, any>} msg */
  applyCall(msg) {
    const { store, views, emit } = this.#o;
    const applied = store.applyCall(msg);
    if (!applied) return;
    const { rec, withdrawnBy, transferredTo, ringStopped, changed } = applied;
    if (withdrawnBy && rec.view) {
      views.render(rec, false);
      this.#o.bar.announce(`Call from ${this.#name(rec)} was taken by ${withdrawnBy}.`);
      views.fadeOut(rec);
    } else if (transferredTo) {
      this.transferredAway(rec);
    } else if (ringStopped) {
      this.#leave(rec, " is no longer ringing for you");
    } else if (changed && rec.view && !rec.dismissed && !rec.withdrawn && !rec.ringStopped) {
      views.render(rec, false);
    }
    this.#quiet(rec);
    const agent = msg.agent || null;
    if (msg.status === "answered") emit("screenpop:answered", { call_id: rec.callId, agent, mine: rec.mine, card: rec.card });
    emit("screenpop:call", { call_id: rec.callId, status: msg.status, agent, ...(msg.status === "transferred" ? { queue: msg.queue || null } : {}) });
  }

  /** The call left this agent: the card says where, then goes once nothing typed on it is unsaved. @param {CallRecord} rec */
  transferredAway(rec) {
    this.#quiet(rec);
    this.#leave(rec, `: ${transferredAwayText(rec.transferredTo)}`);
  }

  /**
   * A card transferred away (or no longer ringing here) goes once nothing typed on it is unsaved: asked after notes or an
   * answer were saved or edited, once the answer's state has settled (it moves after the callback).
   * @param {CallRecord} rec
   */
  leaveOnceSaved(rec) {
    if (rec.transferredTo || rec.ringStopped) window.setTimeout(() => this.#o.views.leave(rec), 0);
  }

  /** @param {CallRecord} rec @param {boolean} force  skip the "discard unsaved notes?" question */
  dismiss(rec, force) {
    if (!this.#o.views.dismiss(rec, force)) return;
    this.#quiet(rec);
  }

  /** The card says why it goes (`Call from <name><why>.`), then goes once nothing typed on it is unsaved. @param {CallRecord} rec @param {string} why */
  #leave(rec, why) {
    if (!rec.view || rec.dismissed || !rec.card) return;
    this.#o.views.render(rec, false);
    this.#o.bar.announce(`Call from ${this.#name(rec)}${why}.`);
    this.#o.views.leave(rec);
  }

  /** No more ringing or notifying for this call. @param {CallRecord} rec */
  #quiet(rec) {
    const attention = this.#o.attention();
    if (attention) attention.stop(rec.callId);
    window.clearTimeout(rec.notifyTimer);
  }

  /** @param {CallRecord} rec */
  #name(rec) {
    return callerLabel(rec.card, this.#o.homeRegion()).name;
  }

  /** A ringing call's card: ring, announce it the first time, notify (attention.js decides when). @param {CallRecord} rec @param {boolean} firstSight */
  #attend(rec, firstSight) {
    const { bar, homeRegion } = this.#o;
    const { name, number } = callerLabel(rec.card, homeRegion());
    const transferred = transferHeadline(transfersOf(rec.card));
    if (isOutbound(rec.card)) {
      // the agent dialled it: the card is shown, but nothing rings or notifies
      if (firstSight) bar.announce(`Outbound call: ${name}, ${number}.`);
      return;
    }
    if (firstSight && transferred) bar.announce(`${transferred}: ${name}, ${number}.`);
    if (rec.status !== "ringing" || rec.withdrawn) return;
    if (firstSight && !transferred) bar.announce(`Incoming call: ${name}, ${number}.`);
    const label = () => callerLabel(rec.card, homeRegion());
    const attention = this.#o.attention();
    if (attention) attention.attend(rec, firstSight, label, () => rec.view && rec.view.el.focus());
  }
}
