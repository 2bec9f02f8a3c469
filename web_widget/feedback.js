// @ts-check
// The agent's answers to suggestions: ✓ (offered and accepted) or ✕ (not interested) on a
// purchases section's items, sent to POST /api/calls/{id}/feedback.  The choice is shown at once
// and kept in the call record; a failed send says why beside the item, with "Try again", and is
// never dropped silently.  The state machine is insight.js's `answerFeedback`.

import { answerFeedback, emptyFeedback, feedbackBody, feedbackKey } from "./insight.js";
import { showFeedback } from "./insight-view.js";

/** @typedef {import("./api.js").ApiResult} ApiResult */
/** @typedef {import("./call-store.js").CallRecord} CallRecord */
/** @typedef {import("./insight.js").FeedbackState} FeedbackState */
/** @typedef {import("./insight.js").Outcome} Outcome */
/** @typedef {import("./insight-view.js").FeedbackHooks} FeedbackHooks */

/**
 * @typedef {object} FeedbackContext
 * @property {(callId: string, body: string) => Promise<ApiResult>} post
 * @property {() => boolean} retryOn401  a token provider may have a fresh token: post once more
 * @property {(rec: CallRecord) => void} edited  the agent pressed a button (a pending "discard?" no longer holds)
 * @property {(rec: CallRecord, answer: {section: string, product: string, outcome: Outcome}) => void} saved
 */

export class FeedbackAnswers {
  #ctx;

  /** @param {FeedbackContext} ctx */
  constructor(ctx) {
    this.#ctx = ctx;
  }

  /** What one call's sections need to draw and answer suggestions. @param {CallRecord} rec @returns {FeedbackHooks} */
  hooks(rec) {
    return {
      get: (section, product) => rec.feedback.get(feedbackKey(section, product)),
      answer: (section, product, outcome) => void this.answer(rec, section, product, outcome),
    };
  }

  /**
   * The agent pressed ✓, ✕ or "Try again" on one suggestion of `rec`'s card.
   * @param {CallRecord} rec
   * @param {string} section
   * @param {string} product
   * @param {Outcome} outcome
   */
  answer(rec, section, product, outcome) {
    const key = feedbackKey(section, product);
    let fb = rec.feedback.get(key);
    if (!fb) {
      fb = emptyFeedback();
      rec.feedback.set(key, fb);
    }
    const state = fb;
    this.#ctx.edited(rec);
    /** @param {Outcome} sending */
    const send = async (sending) => {
      const body = feedbackBody(section, product, sending);
      let result = await this.#ctx.post(rec.callId, body);
      if (result.status === 401 && this.#ctx.retryOn401()) result = await this.#ctx.post(rec.callId, body);
      if (result.ok) this.#ctx.saved(rec, { section, product, outcome: sending });
      return result;
    };
    return answerFeedback(state, outcome, send, () => this.#show(rec, section, product, state));
  }

  /** Update the item in place, wherever the card now draws it. @param {CallRecord} rec @param {string} section @param {string} product @param {FeedbackState} fb */
  #show(rec, section, product, fb) {
    /** @type {HTMLElement|undefined} */
    const el = rec.view ? rec.view.sectionEls.get(section) : undefined;
    if (!el) return;
    for (const li of el.querySelectorAll('[data-testid="suggestion"]')) {
      if (li.getAttribute("data-product") === product) showFeedback(li, fb);
    }
  }
}
