// @ts-check
// The notes form under an answered call: disposition + free text, saved to
// POST /api/calls/{id}/notes.  The text typed is never lost: a failed save keeps it and offers
// "Retry save"; text typed while a save is under way leaves the form "not saved yet".

import { humanise } from "./format.js";
import { h } from "./dom.js";

/** @typedef {import("./call-store.js").CallRecord} CallRecord */
/** @typedef {import("./call-store.js").NotesState} NotesState */
/** @typedef {import("./format.js").Formatter} Formatter */
/** @typedef {import("./api.js").ApiResult} ApiResult */
/** @typedef {{disposition: string|null, notes: string|null, masked: number}} StoredNote  the note as the server kept it */
/** @typedef {{form: HTMLFormElement, select: HTMLInputElement|HTMLSelectElement, textarea: HTMLTextAreaElement, status: HTMLElement, save: HTMLButtonElement}} NotesView */

/**
 * @typedef {object} NotesContext
 * @property {() => {dispositions?: unknown} | null} welcome
 * @property {() => Formatter} fmt
 * @property {(callId: string, body: string) => Promise<ApiResult & {stored?: StoredNote|null}>} post
 * @property {() => boolean} retryOn401  a token provider may have a fresh token: post once more
 * @property {(rec: CallRecord) => void} edited
 * @property {(rec: CallRecord, body: {disposition: string, notes: string}) => void} saved
 */

/**
 * What the status line says for a notes state.
 * @param {NotesState} n
 * @param {Formatter} fmt
 */
export function notesStatusText(n, fmt) {
  return {
    idle: "",
    dirty: "Not saved yet",
    saving: "Saving…",
    saved: (n.savedAt ? `Saved at ${fmt.time(n.savedAt)}` : "Saved") + maskedText(n.masked),
    error: `Not saved: ${n.message} Your text is kept; press Retry save.`,
  }[n.state];
}

/**
 * What the status line adds when the server masked card numbers in the saved note.
 * @param {number|undefined} count
 */
function maskedText(count) {
  if (!count) return "";
  return count === 1 ? " — a card number was masked" : ` — ${count} card numbers were masked`;
}

export class NotesForms {
  #ctx;

  /** @param {NotesContext} ctx */
  constructor(ctx) {
    this.#ctx = ctx;
  }

  /** Show the form once the call is no longer ringing (and was not taken by someone else). @param {CallRecord} rec */
  render(rec) {
    const v = rec.view;
    const show = rec.status !== "ringing" && !rec.withdrawn;
    if (!show) {
      v.notesSlot.replaceChildren();
      v.notes = null;
      return;
    }
    if (!v.notes) {
      v.notes = this.#build(rec);
      v.notesSlot.replaceChildren(v.notes.form);
    }
    this.updateStatus(rec);
  }

  /** @param {CallRecord} rec @returns {NotesView} */
  #build(rec) {
    const n = rec.notes;
    const welcome = this.#ctx.welcome();
    // `dispositions: null` in the welcome: no list is configured and any text of 1-64 characters is accepted
    const free = Boolean(welcome) && welcome?.dispositions === null;
    const dispositions = (welcome && Array.isArray(welcome.dispositions) && welcome.dispositions) || [];
    const select = /** @type {HTMLInputElement|HTMLSelectElement} */ (
      free
        ? h("input", { type: "text", "data-testid": "disposition", name: "disposition", maxlength: "64" })
        : h("select", { "data-testid": "disposition", name: "disposition" }, h("option", { value: "", text: "Choose…" }))
    );
    if (!free) {
      for (const d of dispositions) select.append(h("option", { value: String(d), text: humanise(d) }));
      if (n.disposition && !dispositions.includes(n.disposition)) select.append(h("option", { value: n.disposition, text: humanise(n.disposition) }));
    }
    select.value = n.disposition;
    const textarea = /** @type {HTMLTextAreaElement} */ (h("textarea", { "data-testid": "notes", name: "notes", maxlength: "4000", rows: "3" }));
    textarea.value = n.text;
    const status = h("span", { class: "notes-status", "data-testid": "notes-status", role: "status", "aria-live": "polite" });
    const save = /** @type {HTMLButtonElement} */ (h("button", { type: "submit", class: "primary", "data-testid": "save-notes", text: "Save" }));
    const form = /** @type {HTMLFormElement} */ (
      h(
        "form",
        { class: "notes", "data-testid": "notes-form", novalidate: true, "aria-label": "Call outcome" },
        h("label", {}, "Disposition", select),
        h("label", {}, "Notes", textarea),
        h("div", { class: "notes-row" }, save, status),
      )
    );
    const edited = () => {
      n.disposition = select.value;
      n.text = textarea.value;
      if (n.state !== "saving") n.state = "dirty";
      this.#ctx.edited(rec);
      this.updateStatus(rec);
    };
    select.addEventListener(free ? "input" : "change", edited);
    textarea.addEventListener("input", edited);
    textarea.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.save(rec);
    });
    return { form, select, textarea, status, save };
  }

  /** @param {CallRecord} rec */
  updateStatus(rec) {
    /** @type {NotesView|null} */
    const v = rec.view && rec.view.notes;
    if (!v) return;
    const n = rec.notes;
    v.status.setAttribute("data-state", n.state);
    v.status.textContent = notesStatusText(n, this.#ctx.fmt());
    v.save.disabled = n.state === "saving";
    v.save.textContent = n.state === "error" ? "Retry save" : "Save";
  }

  /** @param {CallRecord} rec */
  async save(rec) {
    const n = rec.notes;
    if (n.state === "saving") return;
    if (!n.disposition && !n.text.trim()) {
      n.state = "error";
      n.message = "Choose a disposition or write a note.";
      return this.updateStatus(rec);
    }
    const body = { disposition: n.disposition, notes: n.text };
    n.state = "saving";
    this.updateStatus(rec);
    const sent = JSON.stringify(body);
    let result = await this.#ctx.post(rec.callId, sent);
    if (result.status === 401 && this.#ctx.retryOn401()) result = await this.#ctx.post(rec.callId, sent);
    // Typed on while saving: the server has the older text, so the form stays "not saved".
    const current = JSON.stringify({ disposition: n.disposition, notes: n.text });
    if (result.ok) {
      n.state = current === sent ? "saved" : "dirty";
      n.savedAt = new Date().toISOString();
      const stored = result.stored || null;
      n.masked = stored ? stored.masked : 0;
      // The form shows what was kept (card numbers masked), unless the agent typed on meanwhile.
      if (stored && current === sent) this.#showStored(rec, stored);
      this.#ctx.saved(rec, stored ? { disposition: stored.disposition ?? "", notes: stored.notes ?? "" } : body);
    } else {
      n.state = "error";
      n.message = result.message;
    }
    this.updateStatus(rec);
  }

  /** The form's fields and state set to the note as stored. @param {CallRecord} rec @param {StoredNote} stored */
  #showStored(rec, stored) {
    const n = rec.notes;
    if (stored.notes !== null) n.text = stored.notes;
    if (stored.disposition !== null) n.disposition = stored.disposition;
    /** @type {NotesView|null} */
    const v = rec.view && rec.view.notes;
    if (!v) return;
    v.textarea.value = n.text;
    v.select.value = n.disposition;
  }
}
