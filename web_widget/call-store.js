// @ts-check
// The calls' state machine, with no DOM and no timers: what the widget knows about each call.
//
// One record per call_id, in arrival order.  A card is applied only when its version is newer than
// the one held (a replay after `resume_from`, or an older snapshot, is never shown twice); a call's
// status only moves forward (ringing -> answered -> ended/missed); a call another agent answered
// while it still rang here is withdrawn.  A call that stopped ringing for this agent alone (a `call`
// with status `withdrawn`: a reservation rescinded, a queue member's ring timed out) is marked
// `ringStopped`; the next card of it, whatever its version (the server pops a fresh version 1, or
// re-sends the version held, when the queue rings this agent again), brings it back.  A call transferred away from this agent (a `call` with
// status `transferred`, or an /api/calls row with `transferred_away` after a gap) is marked with
// where it went; a card whose `transfers` list grew (transferred here, or back) is a new arrival,
// whatever became of the call here before.  Calls fetched from /api/calls after a gap the server
// could not replay are merged into an "away" list when they are new and fall inside the gap.

import { transferTarget, withoutSecrets } from "./call-context.js";

/** @typedef {"ringing"|"answered"|"ended"|"missed"} CallStatus */
/** @typedef {Record<string, any>} Card  a card as the server sends it (SPEC section 6); untrusted */
/** @typedef {{call_id?: string, received_at?: string, status?: string, agent?: string|null, caller?: any, customer?: any, transferred_away?: boolean}} CallSummary  an /api/calls entry */
/** @typedef {import("./call-context.js").TransferTarget} TransferTarget */

/**
 * @typedef {object} NotesState  the notes form's content and where its save stands
 * @property {string} disposition
 * @property {string} text
 * @property {"idle"|"dirty"|"saving"|"saved"|"error"} state
 * @property {string} message
 * @property {string|null} savedAt
 * @property {number} [masked]  card numbers the server masked in the last save
 */

/**
 * @typedef {object} CallRecord
 * @property {string} callId
 * @property {number} version  the version of `card`; 0 before the first card
 * @property {Card|null} card
 * @property {boolean} complete
 * @property {CallStatus} status
 * @property {boolean} mine  this agent answered it
 * @property {boolean} withdrawn  another agent answered it while it rang here
 * @property {boolean} ringStopped  it stopped ringing for this agent while it goes on for others (a `withdrawn` call frame)
 * @property {string|null} takenBy
 * @property {TransferTarget|null} transferredTo  the call was transferred away from this agent: where to ({agent: null, queue: null} when only known to have left)
 * @property {number} transfersSeen  how many transfers of the call this record knows of (a longer list means the call arrived again)
 * @property {boolean} dismissed
 * @property {boolean} notified
 * @property {string} [notifiedName]
 * @property {boolean} [confirmDismiss]
 * @property {NotesState} notes
 * @property {Set<string>} expanded  sections whose rows are all shown
 * @property {Map<string, import("./insight.js").FeedbackState>} feedback  answers to suggestions, by insight.js's feedbackKey
 * @property {number} arrivedAt
 * @property {any} view  the element's DOM for this call, null when not on screen (the store only tests it)
 * @property {number|undefined} [notifyTimer]  owned by the element
 */

/** @type {Readonly<Record<string, number>>} */
export const STATUS_RANK = Object.freeze({ ringing: 0, answered: 1, ended: 2, missed: 2 });
export const MAX_RECORDS = 300; // bookkeeping kept for de-duplication; oldest closed calls go first
export const AWAY_SLACK_MS = 60000; // clock skew allowance when picking "missed while away" calls

/** @returns {NotesState} */
export function emptyNotes() {
  return { disposition: "", text: "", state: "idle", message: "", savedAt: null, masked: 0 };
}

/**
 * `card` without what it says of sections outside `visible`.
 * @param {Card} card @param {Set<string>} visible @returns {Card}
 */
export function narrowCard(card, visible) {
  const seen = (/** @type {unknown} */ name) => typeof name !== "string" || visible.has(name);
  const sections = Object.fromEntries(Object.entries(card.sections || {}).filter(([name]) => seen(name)));
  const badges = (Array.isArray(card.badges) ? card.badges : []).filter((b) => !b || seen(b.section));
  const customer = card.customer && typeof card.customer === "object" ? { ...card.customer } : card.customer;
  if (customer && typeof customer === "object") {
    if (customer.ids && typeof customer.ids === "object") customer.ids = Object.fromEntries(Object.entries(customer.ids).filter(([name]) => seen(name)));
    if (Array.isArray(customer.conflicts)) customer.conflicts = customer.conflicts.filter((c) => !(c && Array.isArray(c.sections) && !c.sections.every(seen)));
  }
  return { ...card, sections, badges, customer };
}

export class CallStore {
  /** @type {Map<string, CallRecord>} call_id -> record, insertion order = arrival order */
  #records = new Map();
  /** @type {Map<string, CallSummary>} call_id -> /api/calls entry missed during a gap */
  #away = new Map();
  #now;
  #max;
  /** This agent's id, from the welcome; answers by anyone else withdraw a ringing call. */
  /** @type {string|null} */
  agent = null;

  /** @param {{now?: () => number, maxRecords?: number}} [opts] */
  constructor({ now = Date.now, maxRecords = MAX_RECORDS } = {}) {
    this.#now = now;
    this.#max = maxRecords;
  }

  /** @param {string} callId */
  get(callId) {
    return this.#records.get(callId);
  }

  /** Every record, oldest first. */
  records() {
    return [...this.#records.values()];
  }

  get size() {
    return this.#records.size;
  }

  /** The record of `callId`, created (ringing, no card) on first sight. */
  record(/** @type {string} */ callId) {
    let rec = this.#records.get(callId);
    if (!rec) {
      rec = {
        callId, version: 0, card: null, complete: false, status: "ringing", mine: false,
        withdrawn: false, ringStopped: false, takenBy: null, transferredTo: null, transfersSeen: 0, dismissed: false, view: null, notified: false,
        notifyTimer: undefined, notes: emptyNotes(), expanded: new Set(), feedback: new Map(), arrivedAt: this.#now(),
      };
      this.#records.set(callId, rec);
      this.#prune();
    }
    return rec;
  }

  /** Keep at most maxRecords: drop the oldest dismissed, withdrawn or never shown ones. */
  #prune() {
    if (this.#records.size <= this.#max) return;
    for (const [id, rec] of this.#records) {
      if (this.#records.size <= this.#max) break;
      if (rec.dismissed || rec.withdrawn || rec.ringStopped || !rec.view) this.#records.delete(id);
    }
  }

  /**
   * A `card` frame.  Null when it is malformed or not newer than what is held (a duplicate);
   * otherwise the record, updated, whether this was the call's first card, and `transferredIn`:
   * the card's `transfers` list grew, so the call was transferred here (again).  Such a card
   * brings back a call that was withdrawn, transferred away or dismissed here; any other card of
   * such a call (a late version) is kept but changes nothing on screen.  `rungAgain`: the call had
   * stopped ringing for this agent and this card rings it again (a queue's retry).  The server sends
   * nothing more of a call to an agent it withdrew it from, and a re-ring's card is a fresh version 1
   * (or the version the agent already holds, while the card is still growing), so any card then is
   * taken, whatever its version, and the versions after it follow on from it.
   * @param {{call_id?: string, version?: number, complete?: boolean, card?: Card}} msg
   * @returns {{rec: CallRecord, firstSight: boolean, transferredIn: boolean, rungAgain: boolean} | null}
   */
  applyCard(msg) {
    const card = msg.card;
    const callId = msg.call_id || (card && card.call_id);
    if (!callId || !card || typeof card !== "object") return null;
    const version = Number(msg.version) || 0;
    const rec = this.record(callId);
    const rungAgain = rec.ringStopped;
    if (rec.card && version <= rec.version && !rungAgain) return null; // a replay or an older snapshot: never shown twice
    const firstSight = !rec.card;
    rec.version = version;
    rec.card = withoutSecrets(card); // defence in depth: a secret_ attribute a server let through is dropped here
    rec.complete = Boolean(msg.complete);
    const transfers = Array.isArray(card.transfers) ? card.transfers.length : 0;
    const transferredIn = transfers > rec.transfersSeen;
    if (transferredIn) {
      rec.transfersSeen = transfers;
      Object.assign(rec, { withdrawn: false, ringStopped: false, takenBy: null, transferredTo: null, dismissed: false, confirmDismiss: false, notified: false });
    }
    if (rungAgain) Object.assign(rec, { ringStopped: false, dismissed: false, confirmDismiss: false, notified: false });
    if (STATUS_RANK[card.status] > STATUS_RANK[rec.status]) rec.status = card.status;
    if (card.status === "answered" && this.agent && card.agent === this.agent) rec.mine = true;
    return { rec, firstSight, transferredIn, rungAgain };
  }

  /**
   * A `call` frame (answered / ended / missed / transferred / withdrawn).  Null when malformed;
   * otherwise the record, `withdrawnBy`: the other agent who took the call when this frame withdrew
   * it, `transferredTo`: where the call went when this frame took it away from this agent,
   * `ringStopped`: this frame stopped the call ringing for this agent (status `withdrawn`), and
   * `changed`: whether this agent's view of the call moved (an answer by another agent never
   * changes it).
   * @param {{call_id?: string, status?: string, agent?: string|null, queue?: string|null}} msg
   * @returns {{rec: CallRecord, withdrawnBy: string|null, transferredTo: TransferTarget|null, ringStopped: boolean, changed: boolean} | null}
   */
  applyCall(msg) {
    if (!msg.call_id || !msg.status) return null;
    if (msg.status === "transferred") return { ...this.#transferredAway(this.record(msg.call_id), transferTarget(msg)), ringStopped: false };
    if (msg.status === "withdrawn") return this.#ringStopped(msg);
    if (!STATUS_RANK[msg.status]) return null;
    const rec = this.record(msg.call_id);
    const unchanged = { rec, withdrawnBy: null, transferredTo: null, ringStopped: false, changed: false };
    const answered = msg.status === "answered";
    if (answered && msg.agent && this.agent && msg.agent !== this.agent) {
      if (rec.status !== "ringing" || rec.withdrawn || rec.ringStopped) return unchanged;
      rec.withdrawn = true;
      rec.takenBy = msg.agent;
      return { ...unchanged, withdrawnBy: msg.agent };
    }
    // naming nobody: the server names the agent when the card was with one, so several held it and
    // any of them may have it; the card stays, answered, and no tab claims it as its own
    if (answered && msg.agent) rec.mine = true;
    if (STATUS_RANK[msg.status] > STATUS_RANK[rec.status]) rec.status = /** @type {CallStatus} */ (msg.status);
    return { ...unchanged, changed: true };
  }

  /**
   * The call stopped ringing for this agent (it goes on for others).  Told once: a repeat, a frame
   * naming another agent, or a call already gone from this agent (taken, transferred away) changes
   * nothing.  Its status is left as it was: the call is not over, only no longer this agent's.
   * @param {{call_id?: string, agent?: string|null}} msg
   */
  #ringStopped(msg) {
    const rec = this.record(String(msg.call_id));
    const unchanged = { rec, withdrawnBy: null, transferredTo: null, ringStopped: false, changed: false };
    if (msg.agent && this.agent && msg.agent !== this.agent) return unchanged;
    if (rec.ringStopped || rec.withdrawn || rec.transferredTo) return unchanged;
    rec.ringStopped = true;
    return { ...unchanged, ringStopped: true, changed: true };
  }

  /**
   * The call left this agent.  Told once: a repeat, or a call already withdrawn here, changes nothing.
   * @param {CallRecord} rec
   * @param {TransferTarget} to
   */
  #transferredAway(rec, to) {
    if (rec.transferredTo || rec.withdrawn || rec.ringStopped) return { rec, withdrawnBy: null, transferredTo: null, changed: false };
    rec.transferredTo = to;
    // The transfer that moved it away is one more than any card here lists: only a card listing
    // more than that (a transfer back) brings the call back; a late version listing fewer does not.
    const listed = rec.card && Array.isArray(rec.card.transfers) ? rec.card.transfers.length : 0;
    rec.transfersSeen = Math.max(rec.transfersSeen, listed) + 1;
    return { rec, withdrawnBy: null, transferredTo: to, changed: true };
  }

  /**
   * /api/calls rows fetched after a gap that say `transferred_away: true`: the `transferred`
   * message was lost in the gap.  Returns the records on hand that this newly marks as gone.
   * @param {unknown[]} calls
   * @returns {CallRecord[]}
   */
  applyTransferredAway(calls) {
    /** @type {CallRecord[]} */
    const moved = [];
    for (const call of calls) {
      if (!call || typeof call !== "object") continue;
      const entry = /** @type {CallSummary} */ (call);
      const rec = entry.call_id && entry.transferred_away === true ? this.#records.get(entry.call_id) : undefined;
      if (!rec || !rec.card) continue;
      if (this.#transferredAway(rec, { agent: null, queue: null }).transferredTo) moved.push(rec);
    }
    return moved;
  }

  /** What the widget holds, for hosts and tests: calls that have a card. */
  snapshot() {
    return this.records()
      .filter((r) => r.card)
      .map((r) => ({ call_id: r.callId, version: r.version, complete: r.complete, status: r.withdrawn || r.ringStopped ? "withdrawn" : r.transferredTo ? "transferred" : r.status, dismissed: r.dismissed }));
  }

  /**
   * Merge /api/calls entries fetched after a gap: calls already shown are skipped, and so are
   * calls received before the connection was lost (less a clock-skew slack).  Returns how many
   * are now listed.
   * @param {unknown[]} calls
   * @param {number|null} lostAt  when the connection was lost (ms), null if unknown
   */
  mergeAway(calls, lostAt) {
    const since = lostAt ? lostAt - AWAY_SLACK_MS : 0;
    for (const call of calls) {
      if (!call || typeof call !== "object") continue;
      const entry = /** @type {CallSummary} */ (call);
      if (!entry.call_id) continue;
      const known = this.#records.get(entry.call_id);
      if (known && known.card) continue;
      const at = Date.parse(String(entry.received_at));
      if (since && Number.isFinite(at) && at < since) continue;
      this.#away.set(entry.call_id, entry);
    }
    return this.#away.size;
  }

  /** The calls missed while away, newest first. */
  away() {
    return [...this.#away.values()].sort((a, b) => (Date.parse(String(b.received_at)) || 0) - (Date.parse(String(a.received_at)) || 0));
  }

  clearAway() {
    this.#away.clear();
  }

  /**
   * The agent's role changed to one that sees only the `visible` sections: the cards held drop what
   * they show of the others (sections, their badges, conflicts and ids), as the server's render for
   * that role leaves them out of every card it sends from now on.
   * @param {Set<string>} visible
   */
  narrowTo(visible) {
    for (const rec of this.#records.values()) if (rec.card) rec.card = narrowCard(rec.card, visible);
  }

  /** Forget every call: another agent signed in on this widget, and none of these are theirs. */
  clear() {
    this.#records.clear();
    this.#away.clear();
    this.agent = null;
  }
}
