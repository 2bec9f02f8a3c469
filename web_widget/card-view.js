// @ts-check
// One call's card on screen: built once, then updated part by part so focus, selection and the
// notes being typed survive new card versions.  Newest call first; a withdrawn card fades out, and
// so does a card transferred away, or one no longer ringing for this agent, once no notes or answers
// typed on it are left unsaved.

import { isOutbound, lineName, transferredAwayText } from "./call-context.js";
import { renderAttributes, renderHandoff } from "./context-view.js";
import { h } from "./dom.js";
import { callerLabel } from "./format.js";
import { unsavedAnswers } from "./insight.js";
import { renderBadges, renderCaller, renderConflicts, renderHistory, renderSection } from "./render.js";

/** @typedef {import("./call-store.js").CallRecord} CallRecord */
/** @typedef {import("./call-store.js").CallStore} CallStore */
/** @typedef {import("./call-store.js").Card} Card */
/** @typedef {import("./feedback.js").FeedbackAnswers} FeedbackAnswers */
/** @typedef {import("./format.js").Formatter} Formatter */
/** @typedef {import("./notes-form.js").NotesForms} NotesForms */
/** @typedef {import("./render.js").SectionMeta} SectionMeta */

/**
 * @typedef {object} CardView  the DOM of one card (kept in `rec.view`)
 * @property {HTMLElement} el
 * @property {HTMLElement} pill
 * @property {HTMLElement} direction
 * @property {HTMLElement} line
 * @property {HTMLElement} queue
 * @property {HTMLElement} when
 * @property {HTMLElement} dismiss
 * @property {HTMLElement} taken
 * @property {HTMLElement} transferred
 * @property {HTMLElement} ringStopped  "No longer ringing for you"
 * @property {HTMLElement} sections
 * @property {HTMLElement} notesSlot
 * @property {any} notes
 * @property {Record<string, HTMLElement>} parts
 * @property {Record<string, string>} keys
 * @property {Map<string, HTMLElement>} sectionEls
 * @property {Map<string, string>} sectionKeys
 * @property {number} [fadeTimer]
 * @property {number} [removeTimer]
 */

/**
 * @typedef {object} CardViewContext
 * @property {CallStore} store
 * @property {HTMLElement} list  the cards' container
 * @property {HTMLElement} empty  "Waiting for calls…"
 * @property {() => Formatter} fmt
 * @property {() => string|null} homeRegion
 * @property {() => {sections?: unknown} | null} welcome
 * @property {NotesForms} notes
 * @property {FeedbackAnswers} feedback  the answers to suggestions (✓/✕)
 * @property {(rec: CallRecord) => void} dismiss  the card's Dismiss button
 * @property {(name: string, detail: object) => void} emit
 */

/** @type {Readonly<Record<string, string>>} */
export const STATUS_LABEL = Object.freeze({ ringing: "Ringing", answered: "On call", ended: "Ended", missed: "Missed", withdrawn: "Taken", transferred: "Transferred" });
const WITHDRAWN_VISIBLE_MS = 4000; // long enough to read "Taken by agent-2", "Transferred to agent-2" or "No longer ringing for you", then it fades out

/** Notes or ✓/✕ answers typed on the card and not saved (or being saved). @param {CallRecord} rec */
export function unsavedWork(rec) {
  return ["dirty", "error", "saving"].includes(rec.notes.state) || unsavedAnswers(rec.feedback);
}

/** The pill's word: "Dialling" for an outbound call not yet answered, "Answered" for a call another took. @param {CallRecord} rec @param {string} status */
function pillText(rec, status) {
  if (status === "ringing" && isOutbound(rec.card)) return "Dialling";
  if (rec.ringStopped) return "No longer ringing";
  return rec.status === "answered" && !rec.mine && status === "answered" ? "Answered" : STATUS_LABEL[status];
}

export class CardViews {
  #ctx;

  /** @param {CardViewContext} ctx */
  constructor(ctx) {
    this.#ctx = ctx;
  }

  /**
   * Show `rec`'s card, building it on first sight; `full` redraws every part.
   * @param {CallRecord} rec
   * @param {boolean} full
   */
  render(rec, full) {
    if (!rec.card || rec.dismissed) return;
    if (!rec.view) {
      rec.view = this.#build(rec);
      this.#insert(rec);
      full = true;
    }
    /** @type {CardView} */
    const v = rec.view;
    const card = rec.card;
    const fmt = this.#ctx.fmt();
    const homeRegion = this.#ctx.homeRegion();
    const status = rec.withdrawn || rec.ringStopped ? "withdrawn" : rec.transferredTo ? "transferred" : rec.status;
    v.el.setAttribute("data-version", String(rec.version));
    v.el.setAttribute("data-status", status);
    v.el.setAttribute("data-complete", rec.complete ? "true" : "false");
    const { name, number } = callerLabel(card, homeRegion);
    v.el.setAttribute("data-direction", isOutbound(card) ? "outbound" : "inbound");
    v.pill.textContent = pillText(rec, status);
    v.el.setAttribute("aria-label", `${v.pill.textContent}${isOutbound(card) ? " (outbound)" : ""}: ${name}, ${number}`);
    v.direction.hidden = !isOutbound(card);
    const line = lineName(card);
    v.line.hidden = !line;
    v.line.textContent = line || "";
    v.queue.textContent = card.queue ? `Queue: ${card.queue}` : "";
    v.when.textContent = fmt.time(card.received_at);
    v.taken.hidden = !rec.withdrawn;
    v.taken.textContent = rec.withdrawn ? `Taken by ${rec.takenBy}` : "";
    this.#showRingStopped(rec);
    this.#showTransferred(rec);
    this.#swap(v, "handoff", renderHandoff(card, fmt), full);
    this.#swap(v, "caller", renderCaller(card, { homeRegion }), full);
    this.#swap(v, "badges", renderBadges(card), full);
    this.#swap(v, "conflicts", renderConflicts(card, (n) => this.sectionTitle(n, card)), full);
    this.#swap(v, "attributes", renderAttributes(card), full);
    this.#swap(v, "actions", this.#actions(rec), full);
    this.#sections(rec, full);
    this.#swap(v, "history", renderHistory(card.history, fmt), full);
    this.#ctx.notes.render(rec);
    this.#ctx.empty.hidden = this.#ctx.list.childElementCount > 0;
  }

  /** @param {CallRecord} rec @returns {CardView} */
  #build(rec) {
    /** @type {Record<string, HTMLElement>} */
    const parts = {};
    for (const slot of ["handoff", "caller", "badges", "conflicts", "attributes", "actions", "history"]) parts[slot] = h("div", { hidden: true });
    const pill = h("span", { class: "pill", "data-testid": "call-status" });
    const direction = h("span", { class: "direction", "data-testid": "direction", hidden: true, text: "Outbound call" });
    const line = h("span", { class: "line", "data-testid": "line", title: "The line the call is on", hidden: true });
    const queue = h("span", { class: "queue" });
    const when = h("span", { class: "when" });
    const dismiss = h("button", { type: "button", class: "dismiss", "data-testid": "dismiss", onclick: () => this.#ctx.dismiss(rec), text: "Dismiss" });
    const taken = h("div", { class: "taken", "data-testid": "taken-by", hidden: true });
    const transferred = h("div", { class: "transferred", "data-testid": "transferred-to", role: "status", hidden: true });
    const ringStopped = h("div", { class: "transferred", "data-testid": "no-longer-ringing", role: "status", hidden: true });
    const sections = h("div", { class: "sections", "data-testid": "sections" });
    const notesSlot = h("div", {});
    const el = h(
      "article",
      { class: "card", "data-testid": "card", "data-call-id": rec.callId, part: "card", tabindex: "-1" },
      h("div", { class: "card-top" }, pill, direction, line, queue, when, dismiss),
      taken,
      transferred,
      ringStopped,
      parts.handoff,
      parts.caller,
      parts.badges,
      parts.conflicts,
      parts.attributes,
      parts.actions,
      sections,
      parts.history,
      notesSlot,
    );
    return { el, pill, direction, line, queue, when, dismiss, taken, transferred, ringStopped, sections, notesSlot, notes: null, parts, keys: {}, sectionEls: new Map(), sectionKeys: new Map() };
  }

  /** Newest call first: by the server's received_at, else by arrival. @param {CallRecord} rec */
  #insert(rec) {
    /** @param {CallRecord} r */
    const key = (r) => Date.parse(r.card && r.card.received_at) || r.arrivedAt;
    const mine = key(rec);
    const before = [...this.#ctx.list.children].find((el) => {
      const other = this.#ctx.store.get(el.getAttribute("data-call-id") || "");
      return other && key(other) < mine;
    });
    this.#ctx.list.insertBefore(rec.view.el, before || null);
  }

  /**
   * Replace a part only when its content changed, so focus and selection survive updates.
   * @param {CardView} v
   * @param {string} slot
   * @param {HTMLElement|null} node
   * @param {boolean} full
   */
  #swap(v, slot, node, full) {
    const key = node ? node.outerHTML : ""; // read only, as a change key: nothing is ever assigned as HTML
    if (!full && v.keys[slot] === key) return;
    v.keys[slot] = key;
    const placeholder = node || h("div", { hidden: true });
    v.parts[slot].replaceWith(placeholder);
    v.parts[slot] = placeholder;
  }

  /** @param {string} name @param {Card|null} card */
  sectionTitle(name, card) {
    const meta = this.#sectionMeta(name);
    const section = card && card.sections && card.sections[name];
    return (section && section.title) || (meta && meta.title) || name;
  }

  /** @param {string} name @returns {SectionMeta|null} */
  #sectionMeta(name) {
    const welcome = this.#ctx.welcome();
    /** @type {any[]} */
    const list = (welcome && Array.isArray(welcome.sections) && welcome.sections) || [];
    return list.find((s) => s && s.name === name) || null;
  }

  /** The welcome's section order, then any other section the card has. @param {Card} card */
  #sectionOrder(card) {
    const present = Object.keys(card.sections || {});
    const welcome = this.#ctx.welcome();
    /** @type {any[]} */
    const listed = (welcome && Array.isArray(welcome.sections) && welcome.sections) || [];
    const configured = listed.map((s) => s.name).filter((n) => present.includes(n));
    return [...configured, ...present.filter((n) => !configured.includes(n))];
  }

  /** @param {CallRecord} rec @param {boolean} full */
  #sections(rec, full) {
    /** @type {CardView} */
    const v = rec.view;
    const card = /** @type {Card} */ (rec.card);
    const order = this.#sectionOrder(card);
    const state = {
      expanded: rec.expanded,
      toggle: (/** @type {string} */ name) => this.#toggleRows(rec, name),
      feedback: this.#ctx.feedback.hooks(rec),
    };
    for (const name of order) {
      const section = card.sections[name];
      const key = JSON.stringify(section) + (rec.expanded.has(name) ? "+" : "");
      if (!full && v.sectionKeys.get(name) === key) continue;
      const el = renderSection(name, this.#sectionMeta(name), section, this.#ctx.fmt(), state);
      const old = v.sectionEls.get(name);
      if (old) old.replaceWith(el);
      else v.sections.append(el);
      v.sectionEls.set(name, el);
      v.sectionKeys.set(name, key);
    }
    for (const [name, el] of v.sectionEls) {
      if (!order.includes(name)) {
        el.remove();
        v.sectionEls.delete(name);
        v.sectionKeys.delete(name);
      }
    }
    const wanted = /** @type {HTMLElement[]} */ (order.map((n) => v.sectionEls.get(n)));
    if (wanted.some((el, i) => v.sections.children[i] !== el)) v.sections.append(...wanted);
  }

  /** @param {CallRecord} rec @param {string} name */
  #toggleRows(rec, name) {
    if (rec.expanded.has(name)) rec.expanded.delete(name);
    else rec.expanded.add(name);
    this.#sections(rec, false);
    const section = rec.view.sectionEls.get(name);
    const button = section && section.querySelector('[data-testid="toggle-rows"]');
    if (button) button.focus();
  }

  /** "Open record" when the customer has ids the host can open. @param {CallRecord} rec */
  #actions(rec) {
    const card = /** @type {Card} */ (rec.card);
    const customer = card.customer || {};
    const ids = customer.ids && typeof customer.ids === "object" ? customer.ids : {};
    if (!Object.keys(ids).length) return null;
    const open = () =>
      this.#ctx.emit("screenpop:open", { call_id: rec.callId, ids: { ...ids }, customer: customer.name || null, e164: (card.caller || {}).e164 || null });
    return h("div", { class: "actions" }, h("button", { type: "button", "data-testid": "open-record", part: "open-record", onclick: open, text: "Open record" }));
  }

  /**
   * "Transferred to agent-2", and while notes or answers typed on the card are unsaved, that the
   * card waits for them.
   * @param {CallRecord} rec
   */
  #showTransferred(rec) {
    /** @type {CardView} */
    const v = rec.view;
    v.transferred.hidden = !rec.transferredTo;
    if (!rec.transferredTo) return v.transferred.replaceChildren();
    const waiting = unsavedWork(rec) && !v.fadeTimer;
    const where = h("strong", { text: transferredAwayText(rec.transferredTo) });
    const hint = h("span", { class: "transferred-hint", "data-testid": "transferred-hint", text: " Save or discard your notes; the card then closes." });
    v.transferred.replaceChildren(...(waiting ? [where, hint] : [where]));
  }

  /**
   * "No longer ringing for you" (the call goes on for others), and while notes or answers typed on
   * the card are unsaved, that the card waits for them.
   * @param {CallRecord} rec
   */
  #showRingStopped(rec) {
    /** @type {CardView} */
    const v = rec.view;
    v.ringStopped.hidden = !rec.ringStopped;
    if (!rec.ringStopped) return v.ringStopped.replaceChildren();
    const waiting = unsavedWork(rec) && !v.fadeTimer;
    const word = h("strong", { text: "No longer ringing for you" });
    const hint = h("span", { class: "transferred-hint", "data-testid": "no-longer-ringing-hint", text: " Save or discard your notes; the card then closes." });
    v.ringStopped.replaceChildren(...(waiting ? [word, hint] : [word]));
  }

  /**
   * The call was transferred away, or stopped ringing for this agent: the card says so, then
   * leaves like a taken one; while notes or answers typed on it are unsaved it stays (the agent
   * saves or discards them, and this is called again).
   * @param {CallRecord} rec
   */
  leave(rec) {
    if (!rec.view || !(rec.transferredTo || rec.ringStopped)) return;
    if (!unsavedWork(rec)) this.fadeOut(rec);
    this.#showTransferred(rec);
    this.#showRingStopped(rec);
  }

  /** The call came back (transferred here again, or rung again): it stays. @param {CallRecord} rec */
  stay(rec) {
    if (!rec.view) return;
    window.clearTimeout(rec.view.fadeTimer);
    window.clearTimeout(rec.view.removeTimer);
    rec.view.fadeTimer = rec.view.removeTimer = undefined;
    rec.view.el.classList.remove("fading");
  }

  /** "Taken by …" stays readable for a moment, then the card fades and goes. @param {CallRecord} rec */
  fadeOut(rec) {
    /** @type {CardView} */
    const view = rec.view;
    if (view.fadeTimer) return; // already on its way out
    const reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    view.fadeTimer = window.setTimeout(() => view.el.classList.add("fading"), WITHDRAWN_VISIBLE_MS);
    view.removeTimer = window.setTimeout(() => this.remove(rec), WITHDRAWN_VISIBLE_MS + (reduced ? 0 : 700));
  }

  /**
   * The agent dismissed the card: gone, focus on its neighbour.  With unsaved notes the first
   * press only asks "Discard unsaved notes?" (or "…answers?" for ✓/✕ not saved yet); false then.
   * @param {CallRecord} rec
   * @param {boolean} force  a host's dismiss(): no question
   */
  dismiss(rec, force) {
    const notes = rec.notes.state === "dirty" || rec.notes.state === "error";
    if ((notes || unsavedAnswers(rec.feedback)) && !force && !rec.confirmDismiss && rec.view) {
      rec.confirmDismiss = true;
      rec.view.dismiss.textContent = notes ? "Discard unsaved notes?" : "Discard unsaved answers?";
      return false;
    }
    const next = rec.view && (rec.view.el.nextElementSibling || rec.view.el.previousElementSibling);
    rec.dismissed = true;
    this.remove(rec);
    (next || this.#ctx.list).focus();
    return true;
  }

  /** @param {CallRecord} rec */
  remove(rec) {
    if (!rec.view) return;
    window.clearTimeout(rec.view.fadeTimer);
    window.clearTimeout(rec.view.removeTimer);
    rec.view.el.remove();
    rec.view = null;
    this.#ctx.empty.hidden = this.#ctx.list.childElementCount > 0;
  }
}
