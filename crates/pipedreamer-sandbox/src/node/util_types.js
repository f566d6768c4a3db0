// node:util/types: brand checks (internal slots, not `Symbol.toStringTag`, which any object can
// fake). `isProxy` is always false and `isExternal` too: the language does not expose either.

const tryCall = (getter, value) => {
  try {
    getter.call(value);
    return true;
  } catch {
    return false;
  }
};
const getter = (proto, key) => Object.getOwnPropertyDescriptor(proto, key).get;
const TypedArray = Object.getPrototypeOf(Uint8Array);
const typedArrayTag = getter(TypedArray.prototype, Symbol.toStringTag);
const isObject = (v) => v !== null && (typeof v === "object" || typeof v === "function");
const tagOf = (v) => (isObject(v) ? typedArrayTag.call(v) : undefined);

export const isDate = (v) => isObject(v) && tryCall(Date.prototype.getTime, v);
export const isRegExp = (v) => isObject(v) && v !== RegExp.prototype && tryCall(getter(RegExp.prototype, "source"), v);
export const isMap = (v) => isObject(v) && tryCall(getter(Map.prototype, "size"), v);
export const isSet = (v) => isObject(v) && tryCall(getter(Set.prototype, "size"), v);
export const isWeakMap = (v) => isObject(v) && tryCall(function () { WeakMap.prototype.has.call(this, {}); }, v);
export const isWeakSet = (v) => isObject(v) && tryCall(function () { WeakSet.prototype.has.call(this, {}); }, v);
export const isPromise = (v) => v instanceof Promise;
export const isArrayBuffer = (v) => isObject(v) && tryCall(getter(ArrayBuffer.prototype, "byteLength"), v);
export const isSharedArrayBuffer = (v) =>
  typeof SharedArrayBuffer === "function" && isObject(v) && tryCall(getter(SharedArrayBuffer.prototype, "byteLength"), v);
export const isAnyArrayBuffer = (v) => isArrayBuffer(v) || isSharedArrayBuffer(v);
export const isArrayBufferView = (v) => ArrayBuffer.isView(v);
export const isDataView = (v) => isObject(v) && tryCall(getter(DataView.prototype, "byteLength"), v);
export const isTypedArray = (v) => tagOf(v) !== undefined;
export const isUint8Array = (v) => tagOf(v) === "Uint8Array";
export const isUint8ClampedArray = (v) => tagOf(v) === "Uint8ClampedArray";
export const isUint16Array = (v) => tagOf(v) === "Uint16Array";
export const isUint32Array = (v) => tagOf(v) === "Uint32Array";
export const isInt8Array = (v) => tagOf(v) === "Int8Array";
export const isInt16Array = (v) => tagOf(v) === "Int16Array";
export const isInt32Array = (v) => tagOf(v) === "Int32Array";
export const isFloat32Array = (v) => tagOf(v) === "Float32Array";
export const isFloat64Array = (v) => tagOf(v) === "Float64Array";
export const isBigInt64Array = (v) => tagOf(v) === "BigInt64Array";
export const isBigUint64Array = (v) => tagOf(v) === "BigUint64Array";
const fnTag = (v) => (typeof v === "function" ? Object.prototype.toString.call(v) : "");
export const isAsyncFunction = (v) => fnTag(v) === "[object AsyncFunction]" || fnTag(v) === "[object AsyncGeneratorFunction]";
export const isGeneratorFunction = (v) => fnTag(v) === "[object GeneratorFunction]" || fnTag(v) === "[object AsyncGeneratorFunction]";
const generatorProto = Object.getPrototypeOf(function* () {}).prototype;
export const isGeneratorObject = (v) => isObject(v) && generatorProto.isPrototypeOf(v);
export const isNativeError = (v) => v instanceof Error;
const boxed = (proto) => (v) => isObject(v) && tryCall(proto.valueOf, v);
export const isNumberObject = boxed(Number.prototype);
export const isStringObject = boxed(String.prototype);
export const isBooleanObject = boxed(Boolean.prototype);
export const isBigIntObject = boxed(BigInt.prototype);
export const isSymbolObject = boxed(Symbol.prototype);
export const isBoxedPrimitive = (v) =>
  isNumberObject(v) || isStringObject(v) || isBooleanObject(v) || isBigIntObject(v) || isSymbolObject(v);
export const isMapIterator = (v) => Object.prototype.toString.call(v) === "[object Map Iterator]";
export const isSetIterator = (v) => Object.prototype.toString.call(v) === "[object Set Iterator]";
export const isArgumentsObject = (v) => Object.prototype.toString.call(v) === "[object Arguments]";
export const isModuleNamespaceObject = (v) => isObject(v) && v[Symbol.toStringTag] === "Module" && Object.getPrototypeOf(v) === null;
export const isProxy = () => false;
export const isExternal = () => false;
export const isCryptoKey = (v) => typeof CryptoKey === "function" && v instanceof CryptoKey;
export const isKeyObject = () => false;

export default {
  isDate, isRegExp, isMap, isSet, isWeakMap, isWeakSet, isPromise, isArrayBuffer, isSharedArrayBuffer,
  isAnyArrayBuffer, isArrayBufferView, isDataView, isTypedArray, isUint8Array, isUint8ClampedArray,
  isUint16Array, isUint32Array, isInt8Array, isInt16Array, isInt32Array, isFloat32Array, isFloat64Array,
  isBigInt64Array, isBigUint64Array, isAsyncFunction, isGeneratorFunction, isGeneratorObject,
  isNativeError, isNumberObject, isStringObject, isBooleanObject, isBigIntObject, isSymbolObject,
  isBoxedPrimitive, isMapIterator, isSetIterator, isArgumentsObject, isModuleNamespaceObject, isProxy,
  isExternal, isCryptoKey, isKeyObject,
};
