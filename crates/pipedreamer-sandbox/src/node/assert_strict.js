// node:assert/strict: node:assert with the strict comparisons under every name.
import { strict } from "node:assert";

export const {
  ok, fail, equal, notEqual, deepEqual, notDeepEqual, strictEqual, notStrictEqual, deepStrictEqual,
  notDeepStrictEqual, match, doesNotMatch, ifError, throws, doesNotThrow, rejects, doesNotReject,
  AssertionError,
} = strict;
export { strict };
export default strict;
