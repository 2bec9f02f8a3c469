// @ts-check
// <screenpop-card>: the agent's caller cards (SPEC section 7).  The one file hosts load:
//
//   <script type="module" src="https://screenpop.example/widget/screenpop.js"></script>
//   <screenpop-card server="https://screenpop.example" token="..."></screenpop-card>
//
// It registers the element (define.js); the element class is card-element.js, and README.md
// lists every module and its job.

export { ScreenpopCard } from "./define.js";
