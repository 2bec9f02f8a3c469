// @ts-check
// The one way the widget builds DOM: `h()` (createElement + textContent, never HTML) and a
// field value as a node.  Apart from render.js so that the section renderers (render.js and
// insight-view.js) share them without importing each other.
//
// Everything from a card is untrusted text: a customer named `<img src=x onerror=alert(1)>` is
// shown as those characters, because nothing here assigns HTML.

import { linkFor } from "./format.js";

/** @typedef {import("./format.js").Formatter} Formatter */
/** @typedef {import("./format.js").DisplayHint} DisplayHint */
/** @typedef {Node|string|number|null|undefined|false} Child */

/**
 * createElement with attributes, listeners for `on*` functions, and text/node children.
 * @param {string} tag
 * @param {Record<string, unknown>|null} attrs
 * @param {...(Child|Child[])} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    else if (key === "text") el.textContent = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  appendAll(el, children);
  return el;
}

/** @param {HTMLElement} el @param {any[]} children */
function appendAll(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/**
 * A field's value as the agent reads it: formatted from its hint, a link when the hint has one.
 * @param {Record<string, unknown>} row
 * @param {string} name
 * @param {DisplayHint} hint
 * @param {Formatter} fmt
 */
export function valueNode(row, name, hint, fmt) {
  const text = fmt.value(row ? row[name] : undefined, hint);
  const href = hint && hint.link ? linkFor(hint.link, row) : null;
  if (!href) return document.createTextNode(text);
  return h("a", { href, target: "_blank", rel: "noopener noreferrer", part: "link" }, text);
}

/** Numbers align right in tabular figures. @param {DisplayHint|null|undefined} hint */
export function isNumeric(hint) {
  return Boolean(hint && hint.format) && ["number", "currency", "percent"].includes(String(hint && hint.format));
}
