// node:assert and node:assert/strict (`strict`): ok, equal, strictEqual, deepEqual,
// deepStrictEqual (and their `not` forms), throws/doesNotThrow, rejects/doesNotReject, match,
// fail, ifError, AssertionError. Messages use `util.inspect`; no diffs. Absent: `CallTracker`
// (deprecated), `partialDeepStrictEqual`.
import { inspect, deepEqual } from "node:util";

export class AssertionError extends Error {
  constructor(options) {
    const { message, actual, expected, operator } = options || {};
    super(message !== undefined ? String(message) : `${inspect(actual)} ${operator} ${inspect(expected)}`);
    this.generatedMessage = message === undefined;
    this.code = "ERR_ASSERTION";
    this.actual = actual;
    this.expected = expected;
    this.operator = operator;
  }
}
Object.defineProperty(AssertionError.prototype, "name", { value: "AssertionError", writable: true, configurable: true });

function fail_(actual, expected, message, operator, generated) {
  if (message instanceof Error) throw message;
  throw new AssertionError({ message: message === undefined ? generated : message, actual, expected, operator });
}

function innerOk(value, message, operator) {
  if (!value) fail_(value, true, message, operator, `The expression evaluated to a falsy value:\n\n  assert.ok(${inspect(value)})\n`);
}

export function ok(value, message) {
  if (arguments.length === 0) fail_(undefined, true, "No value argument passed to `assert.ok()`", "==");
  innerOk(value, message, "==");
}

export function fail(message = "Failed") {
  if (message instanceof Error) throw message;
  throw new AssertionError({ message, operator: "fail" });
}

const compare = (test, operator, describe) => function (actual, expected, message) {
  if (!test(actual, expected)) fail_(actual, expected, message, operator, describe(actual, expected));
};

export const equal = compare((a, b) => a == b || (a !== a && b !== b), "==", (a, b) => `${inspect(a)} == ${inspect(b)}`);
export const notEqual = compare((a, b) => !(a == b || (a !== a && b !== b)), "!=", (a, b) => `${inspect(a)} != ${inspect(b)}`);
export const strictEqual = compare(Object.is, "strictEqual", (a, b) => `Expected values to be strictly equal:\n\n${inspect(a)} !== ${inspect(b)}\n`);
export const notStrictEqual = compare((a, b) => !Object.is(a, b), "notStrictEqual", (a) => `Expected "actual" to be strictly unequal to: ${inspect(a)}`);
const deepEqual_ = compare((a, b) => deepEqual(a, b, false, []), "deepEqual", (a, b) => `Expected values to be loosely deep-equal:\n\n${inspect(a)}\n\nshould loosely deep-equal\n\n${inspect(b)}`);
export const notDeepEqual = compare((a, b) => !deepEqual(a, b, false, []), "notDeepEqual", (a) => `Expected "actual" not to be loosely deep-equal to: ${inspect(a)}`);
export const deepStrictEqual = compare((a, b) => deepEqual(a, b, true, []), "deepStrictEqual", (a, b) => `Expected values to be strictly deep-equal:\n\n${inspect(a)}\n\nshould equal\n\n${inspect(b)}`);
export const notDeepStrictEqual = compare((a, b) => !deepEqual(a, b, true, []), "notDeepStrictEqual", (a) => `Expected "actual" not to be strictly deep-equal to: ${inspect(a)}`);

export function match(string, regexp, message) {
  if (typeof string !== "string" || !regexp.test(string)) {
    fail_(string, regexp, message, "match", `The input did not match the regular expression ${regexp}. Input:\n\n${inspect(string)}\n`);
  }
}

export function doesNotMatch(string, regexp, message) {
  if (typeof string === "string" && regexp.test(string)) {
    fail_(string, regexp, message, "doesNotMatch", `The input was expected to not match the regular expression ${regexp}. Input:\n\n${inspect(string)}\n`);
  }
}

export function ifError(value) {
  if (value !== null && value !== undefined) {
    if (value instanceof Error) throw value;
    fail_(value, null, undefined, "ifError", `ifError got unwanted exception: ${inspect(value)}`);
  }
}

// Whether `error` is what `expected` (a class, validator, RegExp, object or Error) describes;
// throws the AssertionError otherwise.
function checkError(error, expected, message, operator) {
  if (expected === undefined) return;
  if (typeof expected === "function") {
    if (expected.prototype !== undefined && error instanceof expected) return;
    if (Error.isPrototypeOf(expected) || expected === Error) {
      fail_(error, expected, message, operator, `The error is expected to be an instance of "${expected.name}". Received ${inspect(error)}`);
    }
    if (expected.call({}, error) === true) return;
    fail_(error, expected, message, operator, `The ${expected.name ? `"${expected.name}" ` : ""}validation function is expected to return "true". Received ${inspect(error)}`);
  }
  if (expected instanceof RegExp) {
    if (expected.test(String(error))) return;
    fail_(error, expected, message, operator, `The input did not match the regular expression ${expected}. Input:\n\n${inspect(String(error))}\n`);
  }
  if (expected !== null && typeof expected === "object") {
    const keys = Object.keys(expected);
    if (expected instanceof Error) keys.push("name", "message");
    for (const key of keys) {
      const want = expected[key];
      const got = error === null || error === undefined ? undefined : error[key];
      const same = want instanceof RegExp && typeof got === "string" ? want.test(got) : deepEqual(got, want, true, []);
      if (!same) {
        fail_(error, expected, message, operator, `Expected values to be strictly deep-equal at "${key}":\n\n${inspect(got)}\n\nshould equal\n\n${inspect(want)}`);
      }
    }
    return;
  }
  throw new TypeError('The "expected" argument must be a function, RegExp, object or Error.');
}

const NONE = Symbol("no error");

export function throws(fn, expected, message) {
  if (typeof expected === "string") { message = expected; expected = undefined; }
  let error = NONE;
  try { fn(); } catch (e) { error = e; }
  if (error === NONE) fail_(undefined, expected, message, "throws", `Missing expected exception${expected && expected.name ? ` (${expected.name})` : ""}.`);
  checkError(error, expected, message, "throws");
}

export function doesNotThrow(fn, expected, message) {
  if (typeof expected === "string") { message = expected; expected = undefined; }
  try { fn(); } catch (e) {
    fail_(e, expected, message, "doesNotThrow", `Got unwanted exception.\nActual message: "${e && e.message}"`);
  }
}

export async function rejects(promiseOrFn, expected, message) {
  if (typeof expected === "string") { message = expected; expected = undefined; }
  let error = NONE;
  try { await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn); } catch (e) { error = e; }
  if (error === NONE) fail_(undefined, expected, message, "rejects", `Missing expected rejection${expected && expected.name ? ` (${expected.name})` : ""}.`);
  checkError(error, expected, message, "rejects");
}

export async function doesNotReject(promiseOrFn, expected, message) {
  if (typeof expected === "string") { message = expected; expected = undefined; }
  try { await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn); } catch (e) {
    fail_(e, expected, message, "doesNotReject", `Got unwanted rejection.\nActual message: "${e && e.message}"`);
  }
}

const common = {
  ok, fail, strictEqual, notStrictEqual, deepStrictEqual, notDeepStrictEqual, match, doesNotMatch,
  ifError, throws, doesNotThrow, rejects, doesNotReject, AssertionError,
};

// `assert/strict`: the equality functions are the strict ones.
export function strict(value, message) {
  if (arguments.length === 0) fail_(undefined, true, "No value argument passed to `assert.ok()`", "==");
  innerOk(value, message, "==");
}
Object.assign(strict, common, {
  equal: strictEqual, notEqual: notStrictEqual, deepEqual: deepStrictEqual, notDeepEqual: notDeepStrictEqual,
});
strict.strict = strict;

function assert(value, message) {
  if (arguments.length === 0) fail_(undefined, true, "No value argument passed to `assert.ok()`", "==");
  innerOk(value, message, "==");
}
Object.assign(assert, common, { equal, notEqual, deepEqual: deepEqual_, notDeepEqual, strict });

export { deepEqual_ as deepEqual };
export default assert;
