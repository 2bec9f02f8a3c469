// Unit tests of web_widget/format.js: values from `display` hints, numbers, links.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { callerLabel, Formatter, humanise, linkFor, numberText, parseDate } from "../../web_widget/format.js";

const nbsp = (s) => s.replace(/[\u00a0\u202f]/g, " ");

describe("money and numbers", () => {
  const fmt = new Formatter("en-US", null);

  test("currency uses the hint's currency, else the default (USD)", () => {
    assert.equal(fmt.value(1234.5, { format: "currency" }), "$1,234.50");
    assert.equal(fmt.value("99", { format: "currency", currency: "EUR" }), "€99.00");
    assert.equal(nbsp(new Formatter("de-DE", "EUR").value(1234.5, { format: "currency" })), "1.234,50 €");
  });

  test("an integer the server sent as digits (beyond 2^53 - 1) is formatted exactly, not rounded", () => {
    assert.equal(fmt.value("12345678901234567891", { format: "number" }), "12,345,678,901,234,567,891");
    assert.equal(fmt.value("-12345678901234567891", { format: "currency" }), "-$12,345,678,901,234,567,891.00");
    assert.equal(fmt.value("1" + "0".repeat(400), { format: "number" }), "1" + "0".repeat(400));
  });

  test("a bad currency code falls back to a plain number instead of blanking the card", () => {
    assert.equal(fmt.value(5, { format: "currency", currency: "NOT-A-CODE" }), "5");
  });

  test("percent takes a ratio, as Intl does: 0.25 is 25%", () => {
    assert.equal(fmt.value(0.25, { format: "percent" }), "25%");
    assert.equal(fmt.value(0.1234, { format: "percent" }), "12.3%");
  });

  test("a value that is not a number is shown as it is", () => {
    assert.equal(fmt.value("n/a", { format: "number" }), "n/a");
    assert.equal(fmt.value(1234567, { format: "number" }), "1,234,567");
  });

  test("empty values are a dash; booleans read Yes/No; objects as JSON", () => {
    assert.deepEqual([null, undefined, ""].map((v) => fmt.value(v, null)), ["—", "—", "—"]);
    assert.equal(fmt.value(true, null), "Yes");
    assert.equal(fmt.value(false, { format: "text" }), "No");
    assert.equal(fmt.value({ a: 1 }, null), '{"a":1}');
  });
});

describe("dates", () => {
  const fmt = new Formatter("en-US", null);

  test("a YYYY-MM-DD date is that calendar day, not UTC midnight", () => {
    const d = parseDate("2024-03-01", true);
    assert.deepEqual([d.getFullYear(), d.getMonth(), d.getDate()], [2024, 2, 1]);
    assert.equal(fmt.value("2024-03-01", { format: "date" }), "Mar 1, 2024");
  });

  test("a date-only field given as UTC midnight is still that day", () => {
    assert.equal(fmt.date("2024-03-01T00:00:00Z"), "Mar 1, 2024");
  });

  test("an unreadable date is shown as given", () => {
    assert.equal(fmt.value("someday", { format: "date" }), "someday");
    assert.equal(fmt.time("someday"), "");
  });

  test("a time today shows the time only; another day adds the date", () => {
    const now = new Date(2024, 2, 1, 15, 0);
    const today = new Date(2024, 2, 1, 9, 5);
    const before = new Date(2024, 1, 28, 9, 5);
    const timeOnly = new Intl.DateTimeFormat("en-US", { timeStyle: "short" }).format(today);
    const withDate = new Intl.DateTimeFormat("en-US", { dateStyle: "short", timeStyle: "short" }).format(before);
    assert.equal(fmt.time(today.toISOString(), now), timeOnly);
    assert.equal(fmt.time(before.toISOString(), now), withDate);
    assert.equal(nbsp(timeOnly), "9:05 AM");
  });

  test("a cached section's age reads coarsely: seconds, minutes, hours, then days", () => {
    const rtf = new Intl.RelativeTimeFormat("en-US", { numeric: "auto", style: "short" });
    assert.equal(fmt.age(30), rtf.format(-30, "second"));
    assert.equal(fmt.age(179), rtf.format(-3, "minute"));
    assert.equal(fmt.age(7200), rtf.format(-2, "hour"));
    assert.equal(fmt.age(3 * 86400 + 5), rtf.format(-3, "day"));
    assert.equal(fmt.age("junk"), rtf.format(-0, "second"));
  });
});

describe("links, numbers, words", () => {
  test("a link template is filled with URL-encoded row values", () => {
    assert.equal(linkFor("https://crm.example/a/{id}?q={name}", { id: "7/8", name: "Ada L" }, "https://x.example/"), "https://crm.example/a/7%2F8?q=Ada%20L");
  });

  test("a link missing a value, or to another scheme, is not made", () => {
    assert.equal(linkFor("https://crm.example/{id}", { id: "" }, "https://x.example/"), null);
    assert.equal(linkFor("javascript:alert({id})", { id: 1 }, "https://x.example/"), null);
    assert.equal(linkFor("tel:{n}", { n: "+12125550147" }, "https://x.example/"), "tel:%2B12125550147");
  });

  test("a number is national at home and international for a foreign caller", () => {
    const caller = { e164: "+442079460000", national: "020 7946 0000", international: "+44 20 7946 0000", region: "GB" };
    assert.equal(numberText(caller, { homeRegion: "GB" }), "020 7946 0000");
    assert.equal(numberText(caller, { homeRegion: "US" }), "+44 20 7946 0000");
    assert.equal(numberText({ withheld: true }, { homeRegion: "US" }), "Number withheld");
    assert.equal(numberText({ withheld: true, raw: "client:alice" }, { homeRegion: "US" }), "App call (no number)");
    assert.equal(numberText({ valid: false, raw: "12" }, { homeRegion: "US" }), "12 (not a valid number)");
  });

  test("the caller is named by the customer record first, then the caller ID", () => {
    assert.equal(callerLabel({ caller: { name: "WIRELESS CALLER" }, customer: { name: "Ada" } }, null).name, "Ada");
    assert.equal(callerLabel({ caller: { name: "WIRELESS CALLER" } }, null).name, "WIRELESS CALLER");
    assert.equal(callerLabel(null, null).name, "Unknown caller");
  });

  test("codes read as words", () => {
    assert.equal(humanise("callback_requested"), "Callback requested");
  });
});

describe("a value its hint cannot format", () => {
  const fmt = new Formatter("en-US", "UTC");

  test("an object, a list or a boolean under a number or date hint reads as the text hint shows it", () => {
    for (const format of ["number", "currency", "percent", "date", "datetime"]) {
      const hint = { format, currency: "USD" };
      assert.equal(fmt.value({ amount: 5, currency: "USD" }, hint), '{"amount":5,"currency":"USD"}', format);
      assert.equal(fmt.value([1, 2], hint), "[1,2]", format);
      assert.equal(fmt.value(true, hint), "Yes", format);
      assert.equal(fmt.value("soon", hint), "soon", format);
    }
  });
});
