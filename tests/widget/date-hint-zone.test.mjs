// A `date` hint shows the calendar day a connector gave, whatever the agent's time zone.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { Formatter } from "../../web_widget/format.js";

for (const zone of ["Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles"]) {
  describe(`an agent in ${zone}`, () => {
    const fmt = new Formatter("en-US", null);
    const was = process.env.TZ;
    // Node re-reads TZ when it is assigned, so Date and Intl follow the agent's zone for these tests.
    before(() => (process.env.TZ = zone));
    after(() => {
      if (was === undefined) delete process.env.TZ;
      else process.env.TZ = was;
    });

    test("a naive midnight (a SQL timestamp column's date) is that day, not the day before", () => {
      assert.equal(fmt.value("2026-11-22T00:00:00", { format: "date" }), "Nov 22, 2026");
      assert.equal(fmt.value("2026-11-22T00:00:00.000000", { format: "date" }), "Nov 22, 2026");
      assert.equal(fmt.value("2026-11-22 00:00:00", { format: "date" }), "Nov 22, 2026");
    });

    test("a UTC midnight and a bare day are that day too", () => {
      assert.equal(fmt.value("2026-11-22T00:00:00Z", { format: "date" }), "Nov 22, 2026");
      assert.equal(fmt.value("2026-11-22T00:00:00+00:00", { format: "date" }), "Nov 22, 2026");
      assert.equal(fmt.value("2026-11-22", { format: "date" }), "Nov 22, 2026");
    });
  });
}
