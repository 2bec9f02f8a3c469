// @ts-check
// Insight sections -> DOM: a purchases section as two short lists ("Likely next", "Goes well
// with") whose items carry their reason and ✓/✕ buttons, and a rules section as advice (the
// sentence to say, then short label: value lines).  What they say comes from insight.js; the
// answers' state lives in the call record, so a new card version redraws them as they were.

import { h, valueNode } from "./dom.js";
import { advice, asOfNote, feedbackStatusText, OUTCOME_LABEL, suggestionLists } from "./insight.js";

/** @typedef {import("./format.js").Formatter} Formatter */
/** @typedef {import("./insight.js").FeedbackState} FeedbackState */
/** @typedef {import("./insight.js").Outcome} Outcome */
/** @typedef {import("./insight.js").SectionMeta} SectionMeta */
/** @typedef {import("./insight.js").Suggestion} Suggestion */
/**
 * @typedef {object} FeedbackHooks  the call's answers to suggestions
 * @property {(section: string, product: string) => FeedbackState|undefined} get
 * @property {(section: string, product: string, outcome: Outcome) => void} answer
 */
/**
 * @typedef {object} SectionState  what a section's rendering needs from its call
 * @property {Set<string>} expanded  sections whose rows are all shown
 * @property {(name: string) => void} toggle
 * @property {FeedbackHooks} [feedback]  absent: suggestions are shown without buttons
 */

const SHOWN = 5; // per list; "Show all" shows the rest

/**
 * A purchases section's body.
 * @param {string} name  the section's name, sent back with each answer
 * @param {SectionMeta|null} meta
 * @param {Record<string, any>} data
 * @param {Formatter} fmt
 * @param {SectionState} state
 */
export function renderSuggestions(name, meta, data, fmt, state) {
  const lists = suggestionLists(data, meta);
  if (!lists.length) return h("p", { class: "muted", text: "No suggestions for this customer" });
  const expanded = state.expanded.has(name);
  const body = h("div", { class: "suggestions" });
  for (const list of lists) {
    const shown = expanded ? list.items : list.items.slice(0, SHOWN);
    body.append(
      h(
        "div",
        { class: "suggest-list", "data-testid": "suggestions", "data-list": list.key },
        h("h4", { text: list.title }),
        h("ul", { "aria-label": list.title }, shown.map((item) => suggestionItem(name, list.key, item, state.feedback))),
      ),
    );
  }
  const longest = Math.max(...lists.map((l) => l.items.length));
  if (longest > SHOWN) {
    body.append(
      h("button", {
        type: "button",
        class: "link-button",
        "data-testid": "toggle-rows",
        "aria-expanded": expanded ? "true" : "false",
        onclick: () => state.toggle(name),
        text: expanded ? "Show fewer" : "Show all suggestions",
      }),
    );
  }
  const note = asOfNote(data, fmt);
  if (note) body.append(h("p", { class: "as-of", "data-testid": "as-of", text: note }));
  return body;
}

/**
 * One suggestion: its name (the product code beside it), its reason, and the ✓/✕ buttons.
 * @param {string} section
 * @param {string} list
 * @param {Suggestion} item
 * @param {FeedbackHooks|undefined} feedback
 */
function suggestionItem(section, list, item, feedback) {
  const li = h(
    "li",
    { class: "suggestion", "data-testid": "suggestion", "data-list": list, "data-product": item.product },
    h(
      "div",
      { class: "suggestion-text" },
      h("span", { class: "suggestion-name", "data-testid": "suggestion-name", text: item.name }),
      item.code ? h("span", { class: "suggestion-code", "data-testid": "suggestion-code", text: item.code }) : null,
      item.reason ? h("div", { class: "suggestion-reason", "data-testid": "suggestion-reason", text: item.reason }) : null,
    ),
  );
  const product = item.product;
  if (!feedback || !product) return li;
  /** @param {Outcome} outcome @param {string} glyph */
  const button = (outcome, glyph) =>
    h("button", {
      type: "button",
      class: outcome === "accepted" ? "accept" : "decline",
      "data-testid": outcome === "accepted" ? "accept" : "decline",
      "data-outcome": outcome,
      "aria-pressed": "false",
      "aria-label": `${OUTCOME_LABEL[outcome]}: ${item.name}`,
      title: OUTCOME_LABEL[outcome],
      onclick: () => feedback.answer(section, product, outcome),
      text: glyph,
    });
  const retry = h("button", {
    type: "button",
    class: "link-button",
    "data-testid": "retry-feedback",
    hidden: true,
    onclick: () => {
      const fb = feedback.get(section, product);
      if (fb && fb.chosen) feedback.answer(section, product, fb.chosen);
    },
    text: "Try again",
  });
  li.append(
    h("div", { class: "feedback", "data-testid": "feedback" }, button("accepted", "✓"), button("declined", "✕")),
    h(
      "div",
      { class: "feedback-line" },
      h("span", { class: "feedback-status", "data-testid": "feedback-status", "data-state": "idle", role: "status", "aria-live": "polite" }),
      retry,
    ),
  );
  showFeedback(li, feedback.get(section, product));
  return li;
}

/**
 * Show where one suggestion's answer stands, in place (focus stays on the button pressed).
 * @param {Element} li  a `[data-testid=suggestion]` item
 * @param {FeedbackState|undefined} fb
 */
export function showFeedback(li, fb) {
  const chosen = fb ? fb.chosen : null;
  if (chosen) li.setAttribute("data-outcome", chosen);
  else li.removeAttribute("data-outcome");
  for (const button of li.querySelectorAll("button[data-outcome]")) {
    button.setAttribute("aria-pressed", button.getAttribute("data-outcome") === chosen ? "true" : "false");
  }
  const status = li.querySelector('[data-testid="feedback-status"]');
  const retry = /** @type {HTMLElement|null} */ (li.querySelector('[data-testid="retry-feedback"]'));
  if (status) {
    status.setAttribute("data-state", fb ? fb.state : "idle");
    status.textContent = fb ? feedbackStatusText(fb) : "";
  }
  if (retry) retry.hidden = !fb || fb.state !== "error";
}

/**
 * A rules section's body: the sentence to say, then the other values as label: value lines.
 * @param {SectionMeta|null} meta
 * @param {Record<string, any>} data
 * @param {Formatter} fmt
 */
export function renderAdvice(meta, data, fmt) {
  const a = advice(data, meta, fmt);
  const box = h("div", { class: "advice", "data-testid": "advice" });
  if (a.say) box.append(h("p", { class: "advice-say", "data-testid": "advice-say", text: a.say }));
  if (a.lines.length) {
    const dl = h("dl", { class: "advice-lines" });
    for (const line of a.lines) {
      dl.append(
        h(
          "div",
          { class: "advice-line", "data-testid": "field", "data-field": line.field },
          h("dt", { text: line.label }),
          h("dd", { "data-testid": "field-value" }, valueNode(data, line.field, line.hint, fmt)),
        ),
      );
    }
    box.append(dl);
  }
  return box;
}

/**
 * "rule N" for the section's header: discreet, for IT (which row of the decision table held).
 * @param {Record<string, any>} data  a rules section's data (insight.js checked `rule` is a number)
 */
export function ruleHint(data) {
  return h("span", { class: "advice-rule", "data-testid": "advice-rule", title: "The rule of the decision table that held", text: `rule ${data.rule}` });
}
