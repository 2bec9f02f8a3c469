// @ts-check
// The widget's stylesheet, adopted into its shadow root.
//
// Kept as a JS string rather than a .css file so that it is applied in the
// same task as the first render (no flash of unstyled card, no extra request).
// Every typographic property is set on .root because inherited properties
// (color, font) still cross the shadow boundary from the host page.

export const CSS = `
:host {
  display: block;
  container-type: inline-size;
  --sp-bg: #f5f7fa;
  --sp-card: #ffffff;
  --sp-fg: #1b1f24;
  --sp-muted: #5b6572;
  --sp-border: #d5dbe2;
  --sp-accent: var(--screenpop-accent, #0b63ce);
  --sp-ring: #12883e;
  --sp-info-bg: #e6f0fc; --sp-info-fg: #0b4a96;
  --sp-warn-bg: #fff2d6; --sp-warn-fg: #7a4a00;
  --sp-alert-bg: #fde4e4; --sp-alert-fg: #a01818;
  --sp-ok: #12883e;
  --sp-focus: #0b63ce;
  color-scheme: light;
}
@media (prefers-color-scheme: dark) {
  :host(:not([theme="light"])) {
    --sp-bg: #111418;
    --sp-card: #1b2027;
    --sp-fg: #e8ecf1;
    --sp-muted: #a3adb9;
    --sp-border: #323a45;
    --sp-accent: var(--screenpop-accent, #5ea2ff);
    --sp-ring: #3ccf70;
    --sp-info-bg: #14304f; --sp-info-fg: #a9cdff;
    --sp-warn-bg: #3f2e05; --sp-warn-fg: #ffd27a;
    --sp-alert-bg: #4a1616; --sp-alert-fg: #ffb0b0;
    --sp-ok: #3ccf70;
    --sp-focus: #8cbcff;
    color-scheme: dark;
  }
}
:host([theme="dark"]) {
  --sp-bg: #111418; --sp-card: #1b2027; --sp-fg: #e8ecf1; --sp-muted: #a3adb9; --sp-border: #323a45;
  --sp-accent: var(--screenpop-accent, #5ea2ff); --sp-ring: #3ccf70;
  --sp-info-bg: #14304f; --sp-info-fg: #a9cdff; --sp-warn-bg: #3f2e05; --sp-warn-fg: #ffd27a;
  --sp-alert-bg: #4a1616; --sp-alert-fg: #ffb0b0; --sp-ok: #3ccf70; --sp-focus: #8cbcff;
  color-scheme: dark;
}
:host([hidden]) { display: none; }

.root {
  box-sizing: border-box;
  min-height: inherit;
  padding: 12px;
  background: var(--sp-bg);
  color: var(--sp-fg);
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 14px;
  font-weight: 400;
  font-style: normal;
  line-height: 1.4;
  letter-spacing: normal;
  text-align: left;
  text-transform: none;
  text-shadow: none;
  word-spacing: normal;
  white-space: normal;
  overflow-wrap: anywhere;
}
.root *, .root *::before, .root *::after { box-sizing: border-box; }
h2, h3, p, dl, dd, ol { margin: 0; padding: 0; }
h3 { font-size: 13px; font-weight: 600; }
button, select, textarea, input {
  font: inherit; color: inherit; letter-spacing: inherit; text-transform: none; margin: 0;
}
button {
  cursor: pointer; border: 1px solid var(--sp-border); background: var(--sp-card);
  border-radius: 6px; padding: 4px 10px; min-height: 30px; line-height: 1.2;
}
button { white-space: nowrap; overflow-wrap: normal; }
button:hover { border-color: var(--sp-accent); }
button:disabled { opacity: .6; cursor: default; }
button.primary { background: var(--sp-accent); border-color: var(--sp-accent); color: #fff; font-weight: 600; }
:focus-visible { outline: 3px solid var(--sp-focus); outline-offset: 2px; }
a { color: var(--sp-accent); }
.sr-only {
  position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
.muted { color: var(--sp-muted); }

.toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 10px; margin-bottom: 10px; }
.toolbar h2 { font-size: 15px; font-weight: 700; margin-right: auto; }
.who { color: var(--sp-muted); font-size: 12px; }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; background: var(--sp-muted); margin-right: 6px; vertical-align: middle; }
.dot[data-state="connected"] { background: var(--sp-ok); }
.dot[data-state="reconnecting"], .dot[data-state="connecting"] { background: #d99a00; }
.dot[data-state="unauthorized"], .dot[data-state="forbidden-origin"] { background: #d33; }
.toolbar button { font-size: 12px; min-height: 28px; }

.banner {
  display: flex; flex-wrap: wrap; align-items: center; gap: 8px; justify-content: space-between;
  border-radius: 8px; padding: 8px 12px; margin-bottom: 10px; font-weight: 500;
  background: var(--sp-warn-bg); color: var(--sp-warn-fg); border: 1px solid currentColor;
}
.banner[data-state="connected"] { display: none; }
.banner[data-state="connecting"] { background: var(--sp-info-bg); color: var(--sp-info-fg); }
.banner[data-state="unauthorized"], .banner[data-state="forbidden-origin"] { background: var(--sp-alert-bg); color: var(--sp-alert-fg); }
.banner button { color: var(--sp-fg); }
.banner.expiring { background: var(--sp-warn-bg); color: var(--sp-warn-fg); }
.banner.expiring[hidden] { display: none; }

.away { border: 1px dashed var(--sp-border); border-radius: 8px; padding: 8px 12px; margin-bottom: 10px; background: var(--sp-card); }
.away header { display: flex; justify-content: space-between; align-items: center; gap: 8px; margin-bottom: 4px; }
.away ul { list-style: none; margin: 0; padding: 0; }
.away li { display: flex; flex-wrap: wrap; gap: 4px 10px; padding: 3px 0; border-top: 1px solid var(--sp-border); font-size: 13px; }
.away .missed-error { margin: 4px 0; color: var(--sp-alert-fg); font-weight: 600; }
.away li:first-child { border-top: 0; }

.empty { color: var(--sp-muted); padding: 24px 8px; text-align: center; }
.cards { display: grid; gap: 12px; grid-template-columns: minmax(0, 1fr); align-items: start; }
@container (min-width: 760px) {
  .cards { grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); }
  .root { padding: 16px 20px; }
}

.card {
  position: relative; background: var(--sp-card); border: 1px solid var(--sp-border);
  border-left: 5px solid var(--sp-border); border-radius: 10px; padding: 10px 12px 12px;
  display: flex; flex-direction: column; gap: 8px; min-width: 0;
  transition: opacity .6s ease, transform .6s ease;
}
.card[data-status="ringing"] { border-left-color: var(--sp-ring); animation: ring 1.2s ease-in-out 0s 4; }
.card[data-status="answered"] { border-left-color: var(--sp-accent); }
.card[data-status="ended"], .card[data-status="missed"] { border-left-color: var(--sp-muted); }
.card[data-status="missed"] .pill { background: var(--sp-alert-bg); color: var(--sp-alert-fg); }
.card[data-status="withdrawn"] { opacity: .55; }
.card.fading { opacity: 0; transform: scale(.98); }
@keyframes ring { 50% { box-shadow: 0 0 0 4px color-mix(in srgb, var(--sp-ring) 35%, transparent); } }
@media (prefers-reduced-motion: reduce) {
  .card, .card[data-status="ringing"] { animation: none; transition: none; }
  .spinner { animation-duration: 3s !important; }
}

.card-top { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; font-size: 12px; color: var(--sp-muted); }
.card-top .when { margin-left: auto; white-space: nowrap; }
@container (max-width: 420px) {
  .card-top .queue { order: 5; flex-basis: 100%; }
}
.pill { font-weight: 700; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; padding: 2px 8px; border-radius: 999px; background: var(--sp-info-bg); color: var(--sp-info-fg); white-space: nowrap; }
.card[data-status="ringing"] .pill { background: var(--sp-ring); color: #fff; }
.dismiss { min-height: 26px; padding: 2px 8px; font-size: 12px; }
.taken { font-weight: 600; color: var(--sp-fg); }
.card-top .line { font-weight: 700; color: var(--sp-fg); }
.card-top .direction { font-weight: 700; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; padding: 1px 7px; border-radius: 999px; border: 1px solid var(--sp-accent); color: var(--sp-accent); white-space: nowrap; }
.card[data-direction="outbound"][data-status="ringing"] { border-left-color: var(--sp-accent); animation: none; }
.card[data-direction="outbound"][data-status="ringing"] .pill { background: var(--sp-accent); }
.card[data-status="transferred"] { border-left-color: var(--sp-muted); }
.transferred { font-weight: 600; color: var(--sp-fg); background: var(--sp-info-bg); border-radius: 6px; padding: 6px 10px; }
.transferred-hint { font-weight: 400; }
.handoff { background: var(--sp-info-bg); color: var(--sp-info-fg); border-left: 3px solid currentColor; border-radius: 6px; padding: 6px 10px; font-size: 13px; }
.handoff-head strong { font-size: 14px; }
.handoff-path { font-size: 12px; }
.handoff-notes { list-style: none; margin: 4px 0 0; padding: 0; display: flex; flex-direction: column; gap: 6px; }
.handoff-meta { font-size: 12px; font-weight: 600; }
.handoff-text { font-size: 14px; color: var(--sp-fg); white-space: pre-wrap; overflow-wrap: anywhere; }
.caller-role { font-size: 11px; font-weight: 700; text-transform: uppercase; letter-spacing: .05em; color: var(--sp-accent); }
.found-by { font-size: 12px; color: var(--sp-info-fg); }
.attributes { border-top: 1px solid var(--sp-border); padding-top: 6px; }
.attributes h3 { color: var(--sp-muted); text-transform: uppercase; font-size: 11px; letter-spacing: .05em; }
.attributes-list { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 10px; margin-top: 4px; font-size: 13px; }
.attribute { display: contents; }
.attribute dt { color: var(--sp-muted); }
.attribute dd { font-weight: 600; overflow-wrap: anywhere; }

.caller-name { font-size: 20px; font-weight: 700; line-height: 1.2; }
.caller-number { font-size: 17px; font-variant-numeric: tabular-nums; }
.caller-meta { color: var(--sp-muted); font-size: 13px; }

.badges { display: flex; flex-wrap: wrap; gap: 6px; }
.badge { font-size: 12px; font-weight: 700; padding: 2px 8px; border-radius: 6px; border: 1px solid currentColor; }
.badge.info { background: var(--sp-info-bg); color: var(--sp-info-fg); }
.badge.warn { background: var(--sp-warn-bg); color: var(--sp-warn-fg); }
.badge.alert { background: var(--sp-alert-bg); color: var(--sp-alert-fg); }
.conflicts .where { opacity: .85; font-size: 12px; }
.conflicts { background: var(--sp-warn-bg); color: var(--sp-warn-fg); border-radius: 6px; padding: 6px 10px; font-size: 13px; }
.actions { display: flex; flex-wrap: wrap; gap: 6px; }

.sections { display: flex; flex-direction: column; gap: 6px; }
.section { border-top: 1px solid var(--sp-border); padding-top: 6px; }
.section-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 8px; }
.section-head h3 { margin-right: auto; color: var(--sp-muted); text-transform: uppercase; font-size: 11px; letter-spacing: .05em; }
.age { font-size: 11px; color: var(--sp-muted); font-style: italic; }
.chip { font-size: 12px; color: var(--sp-muted); display: inline-flex; align-items: center; }
.chip .spinner { margin-right: 6px; }
.chip .error-text { font-weight: 400; }
.chip .status-word { flex: none; }
.chip.error, .chip.timeout, .chip.interrupted { color: var(--sp-alert-fg); }
.spinner {
  width: 12px; height: 12px; border-radius: 50%; border: 2px solid var(--sp-border);
  border-top-color: var(--sp-accent); animation: spin .8s linear infinite;
}
@keyframes spin { to { transform: rotate(360deg); } }
.fields { display: grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); gap: 4px 12px; margin-top: 4px; }
.field dt { font-size: 11px; color: var(--sp-muted); }
.field dd { font-weight: 600; font-variant-numeric: tabular-nums; }
/* A source's 5,000-character value scrolls in a box of its own (Chromium lets the keyboard reach a
   scroller): unbounded, one field pushed the card's notes and buttons thousands of pixels away. */
.field dd, table.rows .cell, .caller-name, .caller-meta, .attribute dd, .history-notes, .handoff-text { max-height: 8.5em; overflow-y: auto; }
.caller-name { max-height: 3.6em; }
.table-wrap { overflow-x: auto; margin-top: 4px; }
table.rows { border-collapse: collapse; width: 100%; font-size: 12px; }
table.rows th { text-align: left; font-weight: 600; color: var(--sp-muted); border-bottom: 1px solid var(--sp-border); padding: 2px 6px 2px 0; white-space: nowrap; }
table.rows td { padding: 2px 6px 2px 0; border-bottom: 1px solid color-mix(in srgb, var(--sp-border) 50%, transparent); vertical-align: top; }
table.rows .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.link-button { border: 0; background: none; color: var(--sp-accent); padding: 2px 0; min-height: 24px; font-size: 12px; text-decoration: underline; }

.suggestions { display: flex; flex-direction: column; gap: 6px; margin-top: 4px; }
.suggest-list h4 { margin: 0 0 2px; font-size: 12px; font-weight: 600; color: var(--sp-muted); }
.suggest-list ul { list-style: none; margin: 0; padding: 0; }
.suggestion {
  display: grid; grid-template-columns: minmax(0, 1fr) auto; align-items: center; gap: 0 8px;
  padding: 4px 0 4px 8px; border-left: 3px solid var(--sp-border);
}
.suggestion + .suggestion { margin-top: 2px; }
.suggestion[data-outcome="accepted"] { border-left-color: var(--sp-ok); }
.suggestion[data-outcome="declined"] .suggestion-name { color: var(--sp-muted); font-weight: 500; }
.suggestion-name { font-weight: 600; }
.suggestion-code { margin-left: 6px; font-size: 11px; color: var(--sp-muted); font-variant-numeric: tabular-nums; white-space: nowrap; }
.suggestion-reason { font-size: 12px; color: var(--sp-muted); line-height: 1.3; }
.feedback { display: flex; gap: 4px; }
.feedback button { min-width: 34px; min-height: 32px; padding: 2px 8px; font-size: 15px; font-weight: 700; line-height: 1; color: var(--sp-muted); }
.feedback .accept[aria-pressed="true"] { background: var(--sp-ok); border-color: var(--sp-ok); color: var(--sp-card); }
.feedback .decline[aria-pressed="true"] { background: var(--sp-muted); border-color: var(--sp-muted); color: var(--sp-card); }
.feedback-line { grid-column: 1 / -1; display: flex; flex-wrap: wrap; align-items: baseline; gap: 0 8px; font-size: 12px; }
.feedback-line:has(.feedback-status:empty):has([data-testid="retry-feedback"][hidden]) { display: none; }
.feedback-status { color: var(--sp-muted); }
.feedback-status[data-state="saved"] { color: var(--sp-ok); }
.feedback-status[data-state="error"] { color: var(--sp-alert-fg); font-weight: 600; }
.as-of { font-size: 11px; color: var(--sp-muted); font-style: italic; }

.advice { display: flex; flex-direction: column; gap: 4px; margin-top: 4px; }
.advice-say {
  font-size: 15px; font-weight: 600; line-height: 1.3; padding: 6px 10px; border-radius: 6px;
  background: var(--sp-info-bg); color: var(--sp-info-fg); border-left: 4px solid currentColor;
}
.advice-lines { display: flex; flex-wrap: wrap; gap: 2px 18px; }
.advice-line { display: flex; gap: 6px; align-items: baseline; }
.advice-line dt { font-size: 12px; color: var(--sp-muted); }
.advice-line dt::after { content: ":"; }
.advice-line dd { font-weight: 600; font-variant-numeric: tabular-nums; }
.advice-rule { font-size: 11px; color: var(--sp-muted); }

.history { border-top: 1px solid var(--sp-border); padding-top: 6px; }
.history h3 { color: var(--sp-muted); text-transform: uppercase; font-size: 11px; letter-spacing: .05em; }
.history-list { list-style: none; display: flex; flex-direction: column; gap: 4px; margin-top: 4px; }
.history-head { font-size: 12px; color: var(--sp-muted); }
.history-notes { font-size: 13px; white-space: pre-wrap; }

.notes { border-top: 1px solid var(--sp-border); padding-top: 8px; display: flex; flex-direction: column; gap: 6px; }
.notes label { font-size: 12px; color: var(--sp-muted); display: flex; flex-direction: column; gap: 2px; }
.notes select, .notes textarea {
  width: 100%; border: 1px solid var(--sp-border); border-radius: 6px; padding: 5px 8px;
  background: var(--sp-bg); color: var(--sp-fg);
}
.notes textarea { min-height: 64px; resize: vertical; }
.notes-row { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; }
.notes-status { font-size: 12px; color: var(--sp-muted); }
.notes-status[data-state="saved"] { color: var(--sp-ok); }
.notes-status[data-state="error"] { color: var(--sp-alert-fg); font-weight: 600; }
`;

/** One constructed sheet per document; falls back to a <style> where adoptedStyleSheets is missing. */
/** @param {ShadowRoot} shadow */
export function applyStyles(shadow) {
  if ("adoptedStyleSheets" in Document.prototype && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
    return;
  }
  const style = document.createElement("style");
  style.textContent = CSS;
  shadow.append(style);
}
