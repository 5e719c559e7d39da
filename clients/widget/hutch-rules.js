// The hutch codec for browsers: pack and unpack packed JSON under a rule set.
// Same rules, same results as hutch.rules in Python (both test suites read rules/vectors.json).
//
//   import { compileRuleSet } from "./hutch-rules.js";
//   const codec = compileRuleSet(await (await fetch("/rules/max@1.json")).json());
//   codec.unpack(JSON.parse(frame.body));

const ESCAPE = "~"; // what the rule set does not know, by its own name
const ABSENT = "~-"; // defaulted fields the message did not have

const own = (object, key) => Object.prototype.hasOwnProperty.call(object, key);
const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
// Plain assignment would let a "__proto__" key from the network reach the prototype.
const put = (object, key, value) =>
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
const sameValue = (a, b) => typeof a === typeof b && JSON.stringify(a) === JSON.stringify(b);

export class CodecError extends Error {}

export function compileRuleSet(ruleSet) {
  const label = `${ruleSet.name}@${ruleSet.version}`;
  const rules = Object.entries(ruleSet.fields).map(([name, spec]) => ({
    name,
    id: spec.id,
    values: spec.values || null,
    codes: spec.values ? Object.fromEntries(Object.entries(spec.values).map(([v, c]) => [c, v])) : null,
    fields: spec.fields || null,
    shorts: spec.fields ? Object.fromEntries(Object.entries(spec.fields).map(([n, s]) => [s, n])) : null,
    hasDefault: own(spec, "default"),
    default: spec.default,
  }));
  const names = new Set(rules.map((r) => r.name));
  const ids = new Set([...rules.map((r) => r.id), ESCAPE, ABSENT]);

  function pack(message) {
    if (!isObject(message)) throw new CodecError(`a ${label} message is an object`);
    const out = {};
    const absent = [];
    for (const rule of rules) {
      if (!own(message, rule.name)) {
        if (rule.hasDefault) absent.push(rule.id);
        continue;
      }
      const value = message[rule.name];
      if (rule.hasDefault && sameValue(value, rule.default)) continue;
      if (rule.values) {
        const code = typeof value === "string" && own(rule.values, value) ? rule.values[value] : null;
        put(out, rule.id, code !== null ? code : [value]);
      } else if (rule.fields) {
        if (isObject(value)) {
          const inner = {};
          const unknown = {};
          for (const [key, item] of Object.entries(value)) {
            if (own(rule.fields, key)) put(inner, rule.fields[key], item);
            else put(unknown, key, item);
          }
          if (Object.keys(unknown).length) put(inner, ESCAPE, unknown);
          put(out, rule.id, inner);
        } else {
          put(out, rule.id, [value]);
        }
      } else {
        put(out, rule.id, value);
      }
    }
    const unknown = {};
    for (const [key, value] of Object.entries(message)) if (!names.has(key)) put(unknown, key, value);
    if (Object.keys(unknown).length) put(out, ESCAPE, unknown);
    if (absent.length) put(out, ABSENT, absent);
    return out;
  }

  function unpack(packed) {
    if (!isObject(packed)) throw new CodecError(`a packed ${label} message is an object`);
    for (const key of Object.keys(packed)) {
      if (!ids.has(key)) throw new CodecError(`${label} has no field with id '${key}'`);
    }
    const absent = own(packed, ABSENT) ? packed[ABSENT] : [];
    const message = {};
    for (const rule of rules) {
      if (!own(packed, rule.id)) {
        if (rule.hasDefault && !absent.includes(rule.id)) put(message, rule.name, rule.default);
        continue;
      }
      const value = packed[rule.id];
      const wrapped = Array.isArray(value) && value.length === 1;
      if (rule.codes) {
        if (typeof value === "string" && own(rule.codes, value)) put(message, rule.name, rule.codes[value]);
        else if (wrapped) put(message, rule.name, value[0]);
        else throw new CodecError(`${label}: ${JSON.stringify(value)} is not a code of ${rule.name}`);
      } else if (rule.fields) {
        if (isObject(value)) {
          const inner = {};
          for (const [key, item] of Object.entries(value)) {
            if (key === ESCAPE) continue;
            if (!own(rule.shorts, key)) throw new CodecError(`${label}: ${rule.name} has no inner key '${key}'`);
            put(inner, rule.shorts[key], item);
          }
          if (own(value, ESCAPE)) for (const [key, item] of Object.entries(value[ESCAPE])) put(inner, key, item);
          put(message, rule.name, inner);
        } else if (wrapped) {
          put(message, rule.name, value[0]);
        } else {
          throw new CodecError(`${label}: a wrapped value of ${rule.name} holds one item`);
        }
      } else {
        put(message, rule.name, value);
      }
    }
    if (own(packed, ESCAPE)) {
      if (!isObject(packed[ESCAPE])) throw new CodecError(`the ~ of a packed ${label} message must be an object`);
      for (const [key, value] of Object.entries(packed[ESCAPE])) put(message, key, value);
    }
    return message;
  }

  return { label, pack, unpack };
}

export function contentType(form, label) {
  const media = { json: "application/json", "packed-json": "application/x-hutch+json" }[form];
  return `${media}; rules=${label}`;
}
