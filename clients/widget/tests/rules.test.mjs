// The JavaScript codec against the shared vectors that the Python suite reads too.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { compileRuleSet, CodecError } from "../hutch-rules.js";

const root = new URL("../../../", import.meta.url);
const vectors = JSON.parse(readFileSync(new URL("rules/vectors.json", root)));
const ruleSet = JSON.parse(readFileSync(new URL(`rules/sets/${vectors.rule_set}.json`, root)));
const codec = compileRuleSet(ruleSet);

for (const { name, message, packed } of vectors.cases) {
  test(`pack: ${name}`, () => assert.deepEqual(codec.pack(message), packed));
  test(`unpack: ${name}`, () => assert.deepEqual(codec.unpack(packed), message));
}

test("a packed key the rule set does not have is refused", () => {
  assert.throws(() => codec.unpack({ zz: 1 }), CodecError);
});

test("a code that is not in the enumeration is refused", () => {
  assert.throws(() => codec.unpack({ a: "?" }), CodecError);
});

test("__proto__ from the network stays a plain key", () => {
  const message = codec.unpack(JSON.parse('{"~": {"__proto__": {"polluted": true}}}'));
  assert.equal({}.polluted, undefined);
  assert.deepEqual(Object.keys(message), ["__proto__"]);
});
