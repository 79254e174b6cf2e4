// The keyset walk planner on its own (it knows no database and no host): the phases of each kind
// of walk, the range each reads from the position, and what comes after a page.
import { KeysetWalk, walkPhases, WalkShape } from "../src/walk/planner";

const full: WalkShape = { key: ["id"], phaseEnd: "short page" };
const incremental: WalkShape = { key: ["id"], watermark: "updated_at", phaseEnd: "short page" };

test("the phases of each kind of walk", () => {
  expect(walkPhases({ key: [], phaseEnd: "short page" })).toEqual(["all"]);
  expect(walkPhases(full)).toEqual(["keys"]);
  expect(walkPhases(incremental)).toEqual(["nulls", "values"]);
  // a key column is never NULL: no NULL-watermark phase
  expect(walkPhases({ key: ["tenant", "seq"], watermark: "seq", phaseEnd: "short page" })).toEqual(["values"]);
});

test("a full walk reads by key after the last key read, and a short page ends it", () => {
  const walk = new KeysetWalk(full);
  expect(walk.range()).toEqual({ phase: "keys", orderBy: ["id"], after: undefined });
  walk.advance(["1000"]);
  expect(walk.afterPage(1000, 1000)).toBe("page");
  expect(walk.range()).toEqual({ phase: "keys", orderBy: ["id"], after: ["1000"] });
  walk.advance(["1400"]);
  expect(walk.afterPage(400, 1000)).toBe("done");
  expect(walk.position).toEqual({ keys: ["1400"] });
});

test("with phaseEnd 'empty page' a short page keeps the phase; only an empty one ends it", () => {
  const walk = new KeysetWalk({ ...incremental, phaseEnd: "empty page" });
  walk.advance(["7"]);
  expect(walk.afterPage(3, 1000)).toBe("page");
  expect(walk.phase).toBe("nulls");
  expect(walk.afterPage(0, 1000)).toBe("phase");
  expect(walk.phase).toBe("values");
  expect(walk.afterPage(0, 1000)).toBe("done");
  // the walk stays in its last phase: a later call reads it again
  expect(walk.phase).toBe("values");
});

test("an incremental walk: NULL watermarks by key, then (watermark, key), each after its own position", async () => {
  const walk = new KeysetWalk(incremental, { nulls: ["5"], values: ["2024-05-01 10:00:00+00", "42"] });
  const asked: string[] = [];
  const horizon = async () => {
    asked.push(walk.phase);
    return "2024-06-01 00:00:00+00";
  };
  expect(await walk.pageRange(horizon)).toEqual({ phase: "nulls", orderBy: ["id"], whereNull: ["updated_at"], after: ["5"] });
  walk.advance(["9"]);
  expect(walk.afterPage(4, 1000)).toBe("phase");
  expect(walk.position.nulls).toEqual(["9"]);

  expect(await walk.pageRange(horizon)).toEqual({
    phase: "values",
    orderBy: ["updated_at", "id"],
    after: ["2024-05-01 10:00:00+00", "42"],
    below: "2024-06-01 00:00:00+00",
  });
  // the horizon is asked for the values phase only, once a page
  expect(asked).toEqual(["values"]);
  walk.advance(["2024-05-02 00:00:00+00", "3"]);
  expect(walk.afterPage(1000, 1000)).toBe("page");
  expect(walk.range().after).toEqual(["2024-05-02 00:00:00+00", "3"]);
  expect(walk.afterPage(0, 1000)).toBe("done");
});

test("a watermark without a key (the original plugin's mark) reads at or after it, until a page gives a position", () => {
  const walk = new KeysetWalk(incremental, { valuesFrom: "2024-05-01" }, "values");
  expect(walk.range()).toEqual({ phase: "values", orderBy: ["updated_at", "id"], atOrAfterFirst: "2024-05-01", below: undefined });
  walk.advance(["2024-05-03", "8"]);
  expect(walk.range()).toEqual({ phase: "values", orderBy: ["updated_at", "id"], after: ["2024-05-03", "8"], below: undefined });
});

test("a watermark that is a key column orders by it, then the other key columns", () => {
  const walk = new KeysetWalk({ key: ["tenant", "seq"], watermark: "seq", phaseEnd: "short page" }, {}, "nulls");
  // a saved NULL-watermark phase resumes at the phase this walk has next
  expect(walk.phase).toBe("values");
  expect(walk.range().orderBy).toEqual(["seq", "tenant"]);
});

test("a relation without a key is one read with no position", async () => {
  const walk = new KeysetWalk({ key: [], watermark: "updated_at", phaseEnd: "short page" });
  let asked = 0;
  expect(await walk.pageRange(async () => `${++asked}`)).toEqual({ phase: "all", orderBy: [] });
  expect(asked).toBe(0);
  walk.advance(["ignored"]);
  expect(walk.position).toEqual({});
  expect(walk.afterPage(5000, 5000)).toBe("done");
});

test("a saved position of another width or of a phase this walk lacks starts that phase over", () => {
  const walk = new KeysetWalk({ key: ["a", "b"], watermark: "b", phaseEnd: "short page" }, { nulls: ["1", "2"], values: ["x"], keys: ["1", "2"] });
  expect(walk.position).toEqual({});
  const fitting = new KeysetWalk({ key: ["a", "b"], watermark: "w", phaseEnd: "short page" }, { nulls: ["1", "2"], values: ["t", "1", "2"] });
  expect(fitting.position).toEqual({ nulls: ["1", "2"], values: ["t", "1", "2"] });
});

test("a saved phase belongs only to the same kind of walk", () => {
  expect(KeysetWalk.belongs(full, "keys")).toBe(true);
  expect(KeysetWalk.belongs(full, "nulls")).toBe(false);
  expect(KeysetWalk.belongs(incremental, "values")).toBe(true);
  expect(KeysetWalk.belongs(incremental, "keys")).toBe(false);
  expect(KeysetWalk.belongs({ key: ["id"], watermark: "id", phaseEnd: "short page" }, "nulls")).toBe(true);
});

test("what is left: the phase in progress and those after it, for an estimate", () => {
  const walk = new KeysetWalk(incremental, { nulls: ["3"] });
  expect(walk.remaining().map((r) => [r.phase, r.after])).toEqual([
    ["nulls", ["3"]],
    ["values", undefined],
  ]);
  walk.afterPage(0, 1000);
  expect(walk.remaining().map((r) => r.phase)).toEqual(["values"]);
});
