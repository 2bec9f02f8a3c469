// @ts-check
// The calls' state machine, with no DOM and no timers: what the widget knows about each call.
//
// One record per call_id, in arrival order.  A card is applied only when its version is newer than
// the one held (a replay after `resume_from`, or an older snapshot, is never shown twice); a call's
// status only moves forward (ringing -> answered -> ended/missed); a call another agent answered
// while it still rang here is withdrawn.  Calls fetched from /api/calls after a gap the server could
// not replay are merged into an "away" list when they are new and fall inside the gap.

/** @typedef {"ringing"|"answered"|"ended"|"missed"} CallStatus */
/** @typedef {Record<string, any>} Card  a card as the server sends it (SPEC section 6); untrusted */
/** @typedef {{call_id?: string, received_at?: string, status?: string, agent?: string|null, caller?: any, customer?: any}} CallSummary  an /api/calls entry */

/**
 * @typedef {object} NotesState  the notes form's content and where its save stands
 * @property {string} disposition
 * @property {string} text
 * @property {"idle"|"dirty"|"saving"|"saved"|"error"} state
 * @property {string} message
 * @property {string|null} savedAt
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
 * @property {string|null} takenBy
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
  return { disposition: "", text: "", state: "idle", message: "", savedAt: null };
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
        withdrawn: false, takenBy: null, dismissed: false, view: null, notified: false,
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
      if (rec.dismissed || rec.withdrawn || !rec.view) this.#records.delete(id);
    }
  }

  /**
   * A `card` frame.  Null when it is malformed or not newer than what is held (a duplicate);
   * otherwise the record, updated, and whether this was the call's first card.
   * @param {{call_id?: string, version?: number, complete?: boolean, card?: Card}} msg
   * @returns {{rec: CallRecord, firstSight: boolean} | null}
   */
  applyCard(msg) {
    const card = msg.card;
    const callId = msg.call_id || (card && card.call_id);
    if (!callId || !card || typeof card !== "object") return null;
    const version = Number(msg.version) || 0;
    const rec = this.record(callId);
    if (rec.card && version <= rec.version) return null; // a replay or an older snapshot: never shown twice
    const firstSight = !rec.card;
    rec.version = version;
    rec.card = card;
    rec.complete = Boolean(msg.complete);
    if (STATUS_RANK[card.status] > STATUS_RANK[rec.status]) rec.status = card.status;
    if (card.status === "answered" && this.agent && card.agent === this.agent) rec.mine = true;
    return { rec, firstSight };
  }

  /**
   * A `call` frame (answered / ended / missed).  Null when malformed; otherwise the record,
   * `withdrawnBy`: the other agent who took the call when this frame withdrew it, and `changed`:
   * whether this agent's view of the call moved (an answer by another agent never changes it).
   * @param {{call_id?: string, status?: string, agent?: string|null}} msg
   * @returns {{rec: CallRecord, withdrawnBy: string|null, changed: boolean} | null}
   */
  applyCall(msg) {
    if (!msg.call_id || !msg.status || !STATUS_RANK[msg.status]) return null;
    const rec = this.record(msg.call_id);
    const answered = msg.status === "answered";
    if (answered && msg.agent && this.agent && msg.agent !== this.agent) {
      if (rec.status !== "ringing" || rec.withdrawn) return { rec, withdrawnBy: null, changed: false };
      rec.withdrawn = true;
      rec.takenBy = msg.agent;
      return { rec, withdrawnBy: msg.agent, changed: false };
    }
    if (answered) rec.mine = true;
    if (STATUS_RANK[msg.status] > STATUS_RANK[rec.status]) rec.status = /** @type {CallStatus} */ (msg.status);
    return { rec, withdrawnBy: null, changed: true };
  }

  /** What the widget holds, for hosts and tests: calls that have a card. */
  snapshot() {
    return this.records()
      .filter((r) => r.card)
      .map((r) => ({ call_id: r.callId, version: r.version, complete: r.complete, status: r.withdrawn ? "withdrawn" : r.status, dismissed: r.dismissed }));
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
}
