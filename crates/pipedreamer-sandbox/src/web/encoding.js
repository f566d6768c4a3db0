// `TextEncoder`, `TextDecoder` (every WHATWG encoding, `fatal`, `ignoreBOM`, `stream`), `atob`
// and `btoa` (forgiving-base64). The codecs are native (`encoding.rs`: encoding_rs, base64);
// this module holds the WebIDL surface. A decoder's stream state lives in a native handle in a
// private field of the run's own TextDecoder.
export default function install(g, natives) {
  "use strict";
  const { utf8Encode, encodingName, decoderNew, decode, atob: nativeAtob, btoa: nativeBtoa } = natives;
  const invalidCharacter = (message) => (typeof g.DOMException === "function"
    ? new g.DOMException(message, "InvalidCharacterError")
    : Object.assign(new Error(message), { name: "InvalidCharacterError", code: 5 }));

  // A Uint8Array view of any BufferSource (ArrayBuffer, typed array, DataView).
  const bytesOf = (input, what) => {
    if (input instanceof Uint8Array) return input;
    if (input instanceof ArrayBuffer || (typeof SharedArrayBuffer === "function" && input instanceof SharedArrayBuffer)) return new Uint8Array(input);
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    throw new TypeError(`${what}: expected an ArrayBuffer, a typed array or a DataView`);
  };
  // The fetch classes take the same buffer sources.
  natives.bufferSourceBytes = bytesOf;

  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(input = "") { return utf8Encode(String(input).toWellFormed()); }
    encodeInto(source, destination) {
      if (!(destination instanceof Uint8Array)) throw new TypeError("TextEncoder.encodeInto: the destination must be a Uint8Array");
      const s = String(source).toWellFormed();
      let read = 0, written = 0;
      const room = destination.length;
      for (let i = 0; i < s.length; i++) {
        let c = s.charCodeAt(i);
        let units = 1;
        if (c >= 0xd800 && c <= 0xdbff) { c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(i + 1) - 0xdc00); units = 2; }
        const n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        if (written + n > room) break;
        if (n === 1) destination[written] = c;
        else if (n === 2) { destination[written] = 0xc0 | (c >> 6); destination[written + 1] = 0x80 | (c & 63); }
        else if (n === 3) { destination[written] = 0xe0 | (c >> 12); destination[written + 1] = 0x80 | ((c >> 6) & 63); destination[written + 2] = 0x80 | (c & 63); }
        else { destination[written] = 0xf0 | (c >> 18); destination[written + 1] = 0x80 | ((c >> 12) & 63); destination[written + 2] = 0x80 | ((c >> 6) & 63); destination[written + 3] = 0x80 | (c & 63); }
        written += n; read += units; i += units - 1;
      }
      return { read, written };
    }
    get [Symbol.toStringTag]() { return "TextEncoder"; }
  }

  class TextDecoder {
    #encoding; #fatal; #ignoreBOM; #state;
    constructor(label = "utf-8", options = {}) {
      const name = encodingName(String(label));
      if (name == null) throw new RangeError(`TextDecoder: the encoding label ${JSON.stringify(String(label))} is not supported`);
      options = options === undefined || options === null ? {} : options;
      this.#encoding = name;
      this.#fatal = Boolean(options.fatal);
      this.#ignoreBOM = Boolean(options.ignoreBOM);
      this.#state = decoderNew(name, this.#fatal, this.#ignoreBOM);
    }
    get encoding() { return this.#encoding; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    decode(input, options = {}) {
      const stream = Boolean(options !== null && options !== undefined && options.stream);
      return decode(this.#state, input === undefined ? null : bytesOf(input, "TextDecoder.decode"), stream);
    }
    get [Symbol.toStringTag]() { return "TextDecoder"; }
  }

  function atob(data) {
    if (arguments.length < 1) throw new TypeError("atob: 1 argument required");
    const out = nativeAtob(String(data).toWellFormed());
    if (out == null) throw invalidCharacter("atob: the string is not valid base64");
    return out;
  }
  function btoa(data) {
    if (arguments.length < 1) throw new TypeError("btoa: 1 argument required");
    const out = nativeBtoa(String(data).toWellFormed());
    if (out == null) throw invalidCharacter("btoa: the string contains characters outside Latin-1");
    return out;
  }

  g.TextEncoder = TextEncoder;
  g.TextDecoder = TextDecoder;
  g.atob = atob;
  g.btoa = btoa;
}
