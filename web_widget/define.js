// @ts-check
// Registers <screenpop-card>, once: importing this module twice (or next to another copy) is harmless.

import { ScreenpopCard } from "./card-element.js";

if (!customElements.get("screenpop-card")) customElements.define("screenpop-card", ScreenpopCard);

export { ScreenpopCard };
