// `Intl` (DateTimeFormat, NumberFormat, Collator, PluralRules, RelativeTimeFormat,
// getCanonicalLocales, supportedLocalesOf) and the `toLocale*String` / `localeCompare` methods
// that use it. Formatting is native (ICU4X, see `intl.rs`); this module resolves locales and
// options (RangeError/TypeError as ECMA-402 says) and keeps each formatter's resolved options in
// the object the run made. The natives are stateless, so nothing here outlives a run but the
// frozen classes.
//
// Locales: en, en-GB, de, fr, es, it, pt, nl, pl, ja, zh (with their regions, e.g. de-DE,
// en-US, pt-BR, zh-CN). Any other locale falls back to the default, en-US. The default time
// zone is UTC (the engine's).
export default function install(g, natives) {
  "use strict";
  const N = natives.intl;
  const SUPPORTED = new Set(["en", "de", "fr", "es", "it", "pt", "nl", "pl", "ja", "zh"]);
  // Regions whose data is exactly the language's (or en-GB's own), so they resolve as asked.
  const EXACT = new Set([
    "en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "it-IT", "pt-BR", "nl-NL", "pl-PL", "ja-JP",
    "zh-CN", "zh-Hans", "zh-Hans-CN",
  ]);
  const DEFAULT_LOCALE = "en-US";

  const isObject = (v) => v !== null && (typeof v === "object" || typeof v === "function");

  // CanonicalizeLocaleList: a string or a list of them, canonical case, no duplicates.
  function canonicalizeLocaleList(locales) {
    if (locales === undefined) return [];
    const list = typeof locales === "string" || !isObject(locales) ? [locales] : Array.from(locales);
    const seen = [];
    for (const tag of list) {
      if (typeof tag !== "string" && !isObject(tag)) {
        throw new TypeError("Locale list elements must be strings");
      }
      const canonical = N.canonicalLocale(String(tag));
      if (!seen.includes(canonical)) seen.push(canonical);
    }
    return seen;
  }

  // The locale (without Unicode extensions) and its data's language, or undefined.
  function available(tag) {
    const base = tag.split("-u-")[0].split("-x-")[0];
    const language = base.split("-")[0];
    if (!SUPPORTED.has(language)) return undefined;
    // de-AT, fr-CA, … format with the language's data, so they resolve to the language.
    return EXACT.has(base) || base === language ? base : language;
  }

  function resolveLocale(locales) {
    for (const tag of canonicalizeLocaleList(locales)) {
      const found = available(tag);
      if (found !== undefined) return found;
    }
    return DEFAULT_LOCALE;
  }

  function supportedLocalesOf(locales, options) {
    if (options !== undefined) getOption(toObject(options), "localeMatcher", ["lookup", "best fit"], "best fit");
    return canonicalizeLocaleList(locales).filter((tag) => available(tag) !== undefined);
  }

  const toObject = (options) => {
    if (options === undefined) return Object.create(null);
    if (options === null) throw new TypeError("Cannot convert null to an options object");
    return Object(options);
  };

  // GetOption for strings: a value not in `values` is a RangeError.
  function getOption(options, name, values, fallback) {
    let value = options[name];
    if (value === undefined) return fallback;
    value = String(value);
    if (values !== undefined && !values.includes(value)) {
      throw new RangeError(`Value ${value} out of range for options property ${name}`);
    }
    return value;
  }

  // The data has Latin digits only; another numbering system is refused, not ignored.
  function onlyLatinDigits(options) {
    const numberingSystem = options.numberingSystem;
    if (numberingSystem !== undefined && String(numberingSystem) !== "latn") {
      throw new RangeError(`Unsupported numbering system: ${numberingSystem} (only latn)`);
    }
  }

  function getBoolean(options, name, fallback) {
    const value = options[name];
    return value === undefined ? fallback : Boolean(value);
  }

  function getNumber(options, name, min, max, fallback) {
    let value = options[name];
    if (value === undefined) return fallback;
    value = Number(value);
    if (Number.isNaN(value) || value < min || value > max) {
      throw new RangeError(`${name} value is out of range.`);
    }
    return Math.floor(value);
  }

  const tagged = (C, name) => {
    Object.defineProperty(C.prototype, Symbol.toStringTag, { value: name, configurable: true });
    return C;
  };

  const partObjects = (pairs) => pairs.map(([type, value]) => ({ type, value }));

  // ---- DateTimeFormat ----------------------------------------------------------------------

  const DATE_COMPONENTS = {
    weekday: ["narrow", "short", "long"],
    era: ["narrow", "short", "long"],
    year: ["2-digit", "numeric"],
    month: ["2-digit", "numeric", "narrow", "short", "long"],
    day: ["2-digit", "numeric"],
    dayPeriod: ["narrow", "short", "long"],
    hour: ["2-digit", "numeric"],
    minute: ["2-digit", "numeric"],
    second: ["2-digit", "numeric"],
    fractionalSecondDigits: undefined,
    timeZoneName: ["short", "long", "shortOffset", "longOffset", "shortGeneric", "longGeneric"],
  };
  const STYLES = ["full", "long", "medium", "short"];

  // `required`: which fields a bare call needs ("date", "time", "any"); `defaults`: which to add.
  function dateTimeOptions(options, required, defaults) {
    options = toObject(options);
    const resolved = Object.create(null);
    getOption(options, "localeMatcher", ["lookup", "best fit"], "best fit");
    const calendar = options.calendar;
    if (calendar !== undefined && String(calendar) !== "gregory" && String(calendar) !== "iso8601") {
      throw new RangeError(`Unsupported calendar: ${calendar} (only gregory)`);
    }
    onlyLatinDigits(options);
    const hour12 = options.hour12;
    const hourCycle = getOption(options, "hourCycle", ["h11", "h12", "h23", "h24"], undefined);
    const timeZone = options.timeZone;
    resolved.timeZone = timeZone === undefined ? "UTC" : N.timeZone(String(timeZone));
    for (const [name, values] of Object.entries(DATE_COMPONENTS)) {
      if (name === "fractionalSecondDigits") {
        const digits = getNumber(options, name, 1, 3, undefined);
        if (digits !== undefined) resolved[name] = String(digits);
      } else {
        const value = getOption(options, name, values, undefined);
        if (value !== undefined) resolved[name] = value;
      }
    }
    getOption(options, "formatMatcher", ["basic", "best fit"], "best fit");
    const dateStyle = getOption(options, "dateStyle", STYLES, undefined);
    const timeStyle = getOption(options, "timeStyle", STYLES, undefined);
    const components = Object.keys(DATE_COMPONENTS).filter((k) => resolved[k] !== undefined);
    if (dateStyle !== undefined || timeStyle !== undefined) {
      if (components.length > 0) {
        throw new TypeError(`Can't set option ${components[0]} when ${dateStyle !== undefined ? "dateStyle" : "timeStyle"} is used`);
      }
      if (dateStyle !== undefined) resolved.dateStyle = dateStyle;
      if (timeStyle !== undefined) resolved.timeStyle = timeStyle;
    } else {
      const hasDate = ["weekday", "year", "month", "day"].some((k) => resolved[k] !== undefined);
      const hasTime = ["dayPeriod", "hour", "minute", "second", "fractionalSecondDigits"].some((k) => resolved[k] !== undefined);
      const needDefaults = required === "date" ? !hasDate : required === "time" ? !hasTime : !hasDate && !hasTime;
      if (needDefaults && (defaults === "date" || defaults === "all")) {
        resolved.year = resolved.month = resolved.day = "numeric";
      }
      if (needDefaults && (defaults === "time" || defaults === "all")) {
        resolved.hour = resolved.minute = resolved.second = "numeric";
      }
    }
    if (resolved.hour !== undefined || resolved.timeStyle !== undefined) {
      if (hour12 !== undefined) resolved.hourCycle = hour12 ? "h12" : "h23";
      else if (hourCycle !== undefined) resolved.hourCycle = hourCycle;
    }
    return resolved;
  }

  // ICU4X picks a whole pattern by length (de short: dd.MM.y) where ICU matches each field's
  // width to the options; CLDR's numeric date skeletons (yMd, Md) pad these fields in these
  // locales and not in the others, so adjust day and month digits the way ICU's matching would.
  const PADDED_WHEN_NUMERIC = {
    "en-GB": ["day", "month"], fr: ["day", "month"], it: ["day", "month"], pt: ["day", "month"],
    pl: ["month"],
  };
  function formatDate(locale, options, t) {
    const pairs = N.formatDate(locale, options, t);
    const numericDate = options.month === "numeric" || options.month === "2-digit";
    const padded = (numericDate && (PADDED_WHEN_NUMERIC[locale] ?? PADDED_WHEN_NUMERIC[locale.split("-")[0]])) || [];
    for (const pair of pairs) {
      const [type, value] = pair;
      if ((type !== "day" && type !== "month") || !/^\d{1,2}$/.test(value)) continue;
      const twoDigits = options[type] === "2-digit" || (options[type] === "numeric" && padded.includes(type));
      if (twoDigits && value.length === 1) pair[1] = "0" + value;
      else if (!twoDigits && options[type] === "numeric" && value.length === 2 && value[0] === "0") pair[1] = value.slice(1);
    }
    return pairs;
  }

  const timeValue = (date) => {
    const t = date === undefined ? Date.now() : Number(date);
    if (!Number.isFinite(t)) throw new RangeError("Invalid time value");
    return t;
  };

  class DateTimeFormat {
    #locale;
    #options;
    constructor(locales, options) {
      this.#locale = resolveLocale(locales);
      this.#options = Object.freeze(dateTimeOptions(options, "any", "date"));
    }
    get format() {
      if (!(#options in this)) throw new TypeError("Intl.DateTimeFormat.prototype.format called on an incompatible receiver");
      return (date) => this.formatToParts(date).map((p) => p.value).join("");
    }
    formatToParts(date) {
      return partObjects(formatDate(this.#locale, this.#options, timeValue(date)));
    }
    resolvedOptions() {
      const o = this.#options;
      const out = { locale: this.#locale, calendar: "gregory", numberingSystem: "latn", timeZone: o.timeZone };
      if (o.hour !== undefined || o.timeStyle !== undefined) {
        // The locale's clock unless the options chose one: does 13:00 come with a day period?
        const hourCycle = o.hourCycle ?? (N.formatDate(this.#locale, { hour: "numeric", timeZone: "UTC" }, 46800000)
          .some(([type]) => type === "dayPeriod") ? "h12" : "h23");
        out.hourCycle = hourCycle;
        out.hour12 = hourCycle === "h11" || hourCycle === "h12";
      }
      for (const k of Object.keys(DATE_COMPONENTS)) {
        if (o[k] !== undefined) out[k] = k === "fractionalSecondDigits" ? Number(o[k]) : o[k];
      }
      if (o.dateStyle !== undefined) out.dateStyle = o.dateStyle;
      if (o.timeStyle !== undefined) out.timeStyle = o.timeStyle;
      return out;
    }
  }

  // ---- NumberFormat ------------------------------------------------------------------------

  // ISO 4217 minor units that are not 2 (what ECMA-402's CurrencyDigits uses).
  const CURRENCY_DIGITS = {
    BHD: 3, BIF: 0, CLF: 4, CLP: 0, DJF: 0, GNF: 0, IQD: 3, ISK: 0, JOD: 3, JPY: 0, KMF: 0,
    KRW: 0, KWD: 3, LYD: 3, OMR: 3, PYG: 0, RWF: 0, TND: 3, UGX: 0, UYI: 0, UYW: 4, VND: 0,
    VUV: 0, XAF: 0, XOF: 0, XPF: 0,
  };

  function numberOptions(options) {
    options = toObject(options);
    const o = Object.create(null);
    getOption(options, "localeMatcher", ["lookup", "best fit"], "best fit");
    onlyLatinDigits(options);
    o.style = getOption(options, "style", ["decimal", "percent", "currency", "unit"], "decimal");
    if (o.style === "unit") throw new RangeError("Intl.NumberFormat style \"unit\" is not supported in this sandbox");
    const currency = getOption(options, "currency", undefined, undefined);
    if (currency !== undefined && !/^[A-Za-z]{3}$/.test(currency)) {
      throw new RangeError(`Invalid currency code : ${currency}`);
    }
    if (o.style === "currency" && currency === undefined) throw new TypeError("Currency code is required with currency style.");
    o.currencyDisplay = getOption(options, "currencyDisplay", ["code", "symbol", "narrowSymbol", "name"], "symbol");
    o.currencySign = getOption(options, "currencySign", ["standard", "accounting"], "standard");
    // Not in the data the sandbox ships: refused rather than formatted differently.
    if (o.currencyDisplay === "name") throw new RangeError("Intl.NumberFormat currencyDisplay \"name\" is not supported in this sandbox");
    if (o.currencySign === "accounting") throw new RangeError("Intl.NumberFormat currencySign \"accounting\" is not supported in this sandbox");
    if (currency !== undefined) o.currency = currency.toUpperCase();
    const notation = getOption(options, "notation", ["standard", "scientific", "engineering", "compact"], "standard");
    if (notation === "scientific" || notation === "engineering") {
      throw new RangeError(`Intl.NumberFormat notation "${notation}" is not supported in this sandbox`);
    }
    if (notation === "compact" && o.style !== "decimal") {
      throw new RangeError(`Intl.NumberFormat notation "compact" with style "${o.style}" is not supported in this sandbox`);
    }
    o.notation = notation;
    o.minimumIntegerDigits = getNumber(options, "minimumIntegerDigits", 1, 21, 1);
    const cDigits = o.style === "currency" ? (CURRENCY_DIGITS[o.currency] ?? 2) : 0;
    const minDefault = o.style === "currency" && notation !== "compact" ? cDigits : 0;
    const maxDefault = o.style === "currency" && notation !== "compact" ? Math.max(cDigits, minDefault)
      : o.style === "percent" || notation === "compact" ? 0 : 3;
    const minSig = getNumber(options, "minimumSignificantDigits", 1, 21, undefined);
    const maxSig = getNumber(options, "maximumSignificantDigits", 1, 21, undefined);
    let minFrac = getNumber(options, "minimumFractionDigits", 0, 100, undefined);
    let maxFrac = getNumber(options, "maximumFractionDigits", 0, 100, undefined);
    if (minSig !== undefined || maxSig !== undefined) {
      o.minimumSignificantDigits = minSig ?? 1;
      o.maximumSignificantDigits = maxSig ?? 21;
      if (o.minimumSignificantDigits > o.maximumSignificantDigits) throw new RangeError("maximumSignificantDigits value is out of range.");
    } else {
      if (minFrac === undefined) minFrac = Math.min(minDefault, maxFrac ?? minDefault);
      if (maxFrac === undefined) maxFrac = Math.max(maxDefault, minFrac);
      else if (minFrac > maxFrac) throw new RangeError("maximumFractionDigits value is out of range.");
      o.minimumFractionDigits = minFrac;
      o.maximumFractionDigits = maxFrac;
    }
    o.compactDisplay = getOption(options, "compactDisplay", ["short", "long"], "short");
    let grouping = options.useGrouping;
    if (grouping === undefined) grouping = notation === "compact" ? "min2" : "auto";
    else if (grouping === true || grouping === "true") grouping = "always";
    else if (grouping === false || grouping === "false" || grouping === "" || grouping === null) grouping = false;
    else if (!["always", "auto", "min2"].includes(String(grouping))) {
      throw new RangeError(`Value ${grouping} out of range for options property useGrouping`);
    }
    o.useGrouping = grouping;
    o.signDisplay = getOption(options, "signDisplay", ["auto", "never", "always", "exceptZero", "negative"], "auto");
    return o;
  }

  // The arguments `intl.rs` reads (strings and digit counts only).
  function nativeNumberOptions(o) {
    return {
      style: o.notation === "compact" ? "compact" : o.style,
      currency: o.currency,
      currencyDisplay: o.currencyDisplay,
      compactDisplay: o.compactDisplay,
      useGrouping: o.useGrouping === false ? "false" : o.useGrouping,
      minimumIntegerDigits: o.minimumIntegerDigits,
      minimumFractionDigits: o.minimumFractionDigits ?? 0,
      maximumFractionDigits: o.maximumFractionDigits ?? 100,
      minimumSignificantDigits: o.minimumSignificantDigits,
      maximumSignificantDigits: o.maximumSignificantDigits,
    };
  }

  // ICU4X's currency, percent and compact formatters mark the number only; name the rest.
  function numberParts(o, pairs) {
    const out = [];
    for (const [type, value] of pairs) {
      if (type !== "literal") {
        out.push({ type, value });
        continue;
      }
      for (const piece of value.match(/\s+|[^\s]+/gu) ?? []) {
        let kind = "literal";
        if (!/^\s+$/u.test(piece)) {
          if (piece === "%" && o.style === "percent") kind = "percentSign";
          else if (piece === "-" || piece === "\u2212") kind = "minusSign";
          else if (piece === "+") kind = "plusSign";
          else if (o.style === "currency") kind = "currency";
          else if (o.notation === "compact") kind = "compact";
        }
        out.push({ type: kind, value: piece });
      }
    }
    return out;
  }

  function formatNumberParts(locale, o, nativeOptions, x) {
    // A BigInt goes to the native as its exact digits.
    const big = typeof x === "bigint";
    if (!big) x = Number(x);
    if (!big && Number.isNaN(x)) return [{ type: "nan", value: "NaN" }];
    const negative = big ? x < 0n : x < 0 || Object.is(x, -0);
    let sign = "";
    const isZero = big ? x === 0n : x === 0;
    switch (o.signDisplay) {
      case "auto": sign = negative && !isZero ? "-" : ""; break;
      case "always": sign = negative ? "-" : "+"; break;
      case "exceptZero": sign = isZero ? "" : negative ? "-" : "+"; break;
      case "negative": sign = negative && !isZero ? "-" : ""; break;
      default: sign = "";
    }
    const magnitude = big ? String(negative ? -x : x) : Math.abs(x);
    const body = big || Number.isFinite(magnitude)
      ? numberParts(o, N.formatNumber(locale, nativeOptions, magnitude))
      : [{ type: "infinity", value: "∞" }];
    if (sign === "") return body;
    // The sign goes where the locale's pattern puts it: before the first number part, after
    // a leading currency symbol (en: "-$1.00", de: "-1,00 €").
    const signPart = { type: sign === "-" ? "minusSign" : "plusSign", value: sign };
    const at = body.findIndex((p) => p.type === "integer" || p.type === "infinity" || p.type === "currency");
    body.splice(at < 0 ? 0 : at, 0, signPart);
    return body;
  }

  class NumberFormat {
    #locale;
    #options;
    #native;
    constructor(locales, options) {
      this.#locale = resolveLocale(locales);
      this.#options = Object.freeze(numberOptions(options));
      this.#native = Object.freeze(nativeNumberOptions(this.#options));
    }
    get format() {
      if (!(#options in this)) throw new TypeError("Intl.NumberFormat.prototype.format called on an incompatible receiver");
      return (x) => this.formatToParts(x).map((p) => p.value).join("");
    }
    formatToParts(x) {
      return formatNumberParts(this.#locale, this.#options, this.#native, x);
    }
    resolvedOptions() {
      const o = this.#options;
      const out = { locale: this.#locale, numberingSystem: "latn", style: o.style };
      if (o.currency !== undefined) {
        out.currency = o.currency;
        out.currencyDisplay = o.currencyDisplay;
        out.currencySign = o.currencySign;
      }
      out.minimumIntegerDigits = o.minimumIntegerDigits;
      if (o.minimumSignificantDigits !== undefined) {
        out.minimumSignificantDigits = o.minimumSignificantDigits;
        out.maximumSignificantDigits = o.maximumSignificantDigits;
      } else {
        out.minimumFractionDigits = o.minimumFractionDigits;
        out.maximumFractionDigits = o.maximumFractionDigits;
      }
      out.useGrouping = o.useGrouping;
      out.notation = o.notation;
      if (o.notation === "compact") out.compactDisplay = o.compactDisplay;
      out.signDisplay = o.signDisplay;
      out.roundingMode = "halfExpand";
      return out;
    }
  }

  // ---- Collator ----------------------------------------------------------------------------

  class Collator {
    #locale;
    #options;
    constructor(locales, options) {
      this.#locale = resolveLocale(locales);
      options = toObject(options);
      const usage = getOption(options, "usage", ["sort", "search"], "sort");
      getOption(options, "localeMatcher", ["lookup", "best fit"], "best fit");
      const numeric = getBoolean(options, "numeric", false);
      const caseFirst = getOption(options, "caseFirst", ["upper", "lower", "false"], "false");
      const sensitivity = getOption(options, "sensitivity", ["base", "accent", "case", "variant"], "variant");
      const ignorePunctuation = getBoolean(options, "ignorePunctuation", false);
      this.#options = Object.freeze({ usage, sensitivity, ignorePunctuation, numeric, caseFirst });
    }
    get compare() {
      if (!(#options in this)) throw new TypeError("Intl.Collator.prototype.compare called on an incompatible receiver");
      // Lone surrogates compare as U+FFFD (the native takes well-formed UTF-8).
      return (a, b) => N.compare(this.#locale, this.#options, String(a).toWellFormed(), String(b).toWellFormed());
    }
    resolvedOptions() {
      return { locale: this.#locale, collation: "default", ...this.#options };
    }
  }

  // ---- PluralRules -------------------------------------------------------------------------

  class PluralRules {
    #locale;
    #options;
    constructor(locales, options) {
      this.#locale = resolveLocale(locales);
      options = toObject(options);
      getOption(options, "localeMatcher", ["lookup", "best fit"], "best fit");
      const type = getOption(options, "type", ["cardinal", "ordinal"], "cardinal");
      const minimumIntegerDigits = getNumber(options, "minimumIntegerDigits", 1, 21, 1);
      const minimumFractionDigits = getNumber(options, "minimumFractionDigits", 0, 100, 0);
      const maximumFractionDigits = getNumber(options, "maximumFractionDigits", minimumFractionDigits, 100, Math.max(3, minimumFractionDigits));
      this.#options = Object.freeze({ type, minimumIntegerDigits, minimumFractionDigits, maximumFractionDigits });
    }
    select(n) {
      const o = this.#options;
      return N.plural(this.#locale, o.type, Number(n), o.minimumFractionDigits, o.maximumFractionDigits);
    }
    resolvedOptions() {
      const o = this.#options;
      return {
        locale: this.#locale, type: o.type, minimumIntegerDigits: o.minimumIntegerDigits,
        minimumFractionDigits: o.minimumFractionDigits, maximumFractionDigits: o.maximumFractionDigits,
        pluralCategories: N.pluralCategories(this.#locale, o.type), roundingMode: "halfExpand",
      };
    }
  }

  // ---- RelativeTimeFormat ------------------------------------------------------------------

  const UNITS = ["second", "minute", "hour", "day", "week", "month", "quarter", "year"];

  class RelativeTimeFormat {
    #locale;
    #options;
    constructor(locales, options) {
      this.#locale = resolveLocale(locales);
      options = toObject(options);
      getOption(options, "localeMatcher", ["lookup", "best fit"], "best fit");
      onlyLatinDigits(options);
      const style = getOption(options, "style", ["long", "short", "narrow"], "long");
      const numeric = getOption(options, "numeric", ["always", "auto"], "always");
      this.#options = Object.freeze({ style, numeric });
    }
    format(value, unit) {
      return this.formatToParts(value, unit).map((p) => p.value).join("");
    }
    formatToParts(value, unit) {
      const x = Number(value);
      if (!Number.isFinite(x)) throw new RangeError("Invalid value: the number must be finite");
      let u = String(unit);
      if (u.endsWith("s") && UNITS.includes(u.slice(0, -1))) u = u.slice(0, -1);
      if (!UNITS.includes(u)) throw new RangeError(`Invalid unit argument for format() '${unit}'`);
      const { style, numeric } = this.#options;
      return N.formatRelative(this.#locale, u, style, numeric, x)
        .map(([type, v]) => (type === "literal" ? { type, value: v } : { type, value: v, unit: u }));
    }
    resolvedOptions() {
      return { locale: this.#locale, ...this.#options, numberingSystem: "latn" };
    }
  }

  const Intl = {
    DateTimeFormat: tagged(DateTimeFormat, "Intl.DateTimeFormat"),
    NumberFormat: tagged(NumberFormat, "Intl.NumberFormat"),
    Collator: tagged(Collator, "Intl.Collator"),
    PluralRules: tagged(PluralRules, "Intl.PluralRules"),
    RelativeTimeFormat: tagged(RelativeTimeFormat, "Intl.RelativeTimeFormat"),
    getCanonicalLocales(locales) { return canonicalizeLocaleList(locales); },
    supportedValuesOf(key) {
      switch (String(key)) {
        case "calendar": return ["gregory"];
        case "numberingSystem": return ["latn"];
        case "timeZone": return N.timeZones();
        case "collation": return ["default"];
        // Any ISO 4217 code formats (unknown symbols show as the code); there is no list.
        case "currency": case "unit":
          throw new RangeError(`Intl.supportedValuesOf("${key}") is not supported in this sandbox`);
        default: throw new RangeError(`Invalid key : ${key}`);
      }
    },
  };
  for (const C of [DateTimeFormat, NumberFormat, Collator, PluralRules, RelativeTimeFormat]) {
    Object.defineProperty(C, "supportedLocalesOf", {
      value: { supportedLocalesOf(locales, options) { return supportedLocalesOf(locales, options); } }.supportedLocalesOf,
      writable: true, configurable: true,
    });
  }
  for (const name of Object.keys(Intl)) {
    Object.defineProperty(Intl, name, { enumerable: false });
  }
  Object.defineProperty(Intl, Symbol.toStringTag, { value: "Intl", configurable: true });
  Object.defineProperty(g, "Intl", { value: Intl, writable: true, configurable: true, enumerable: false });

  // ---- toLocale*String and localeCompare, on Intl ------------------------------------------

  const method = (proto, name, fn) => {
    Object.defineProperty(proto, name, { value: fn, writable: true, configurable: true, enumerable: false });
  };
  // The default fields differ per method (toLocaleTimeString shows only the time, …).
  const dateToLocale = (required, defaults) => function (locales, options) {
    const t = Date.prototype.getTime.call(this);
    if (Number.isNaN(t)) return "Invalid Date";
    const resolved = dateTimeOptions(options, required, defaults);
    return formatDate(resolveLocale(locales), resolved, t).map((p) => p[1]).join("");
  };
  method(Date.prototype, "toLocaleString", { toLocaleString: dateToLocale("any", "all") }.toLocaleString);
  method(Date.prototype, "toLocaleDateString", { toLocaleDateString: dateToLocale("date", "date") }.toLocaleDateString);
  method(Date.prototype, "toLocaleTimeString", { toLocaleTimeString: dateToLocale("time", "time") }.toLocaleTimeString);
  const numberValue = Number.prototype.valueOf;
  method(Number.prototype, "toLocaleString", {
    toLocaleString(locales, options) {
      return new NumberFormat(locales, options).format(numberValue.call(this));
    },
  }.toLocaleString);
  if (typeof BigInt === "function") {
    const bigintValue = BigInt.prototype.valueOf;
    method(BigInt.prototype, "toLocaleString", {
      toLocaleString(locales, options) {
        return new NumberFormat(locales, options).format(bigintValue.call(this));
      },
    }.toLocaleString);
  }
  method(String.prototype, "localeCompare", {
    localeCompare(that, locales, options) {
      if (this === undefined || this === null) throw new TypeError("String.prototype.localeCompare called on null or undefined");
      return new Collator(locales, options).compare(String(this), String(that));
    },
  }.localeCompare);
  method(Array.prototype, "toLocaleString", {
    toLocaleString(locales, options) {
      const items = Object(this);
      const length = Math.min(Number(items.length) || 0, Number.MAX_SAFE_INTEGER);
      let out = "";
      for (let i = 0; i < length; i++) {
        if (i > 0) out += ",";
        const item = items[i];
        if (item !== undefined && item !== null) out += String(item.toLocaleString(locales, options));
      }
      return out;
    },
  }.toLocaleString);
}
