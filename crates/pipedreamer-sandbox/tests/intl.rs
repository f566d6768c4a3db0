//! `Intl` and the `toLocale*String` methods in the sandbox: a compatibility suite against Node
//! 20's output (full ICU), and isolation between the runs of a realm.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Cases where our output differs from Node 20's for a reason we accept: the CLDR version
/// (Node 20 ships ICU 7x with CLDR 4x; ICU4X 2.4 has CLDR 49) or a documented limitation.
/// (label, our output, why).
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[
    // ICU4X's date + zone glue has no comma; the parts' types and values are Node's.
    (
        "date-fns-tz offset",
        "month:3|literal:/|day:31|literal:/|year:2024|literal: |timeZoneName:GMT+02:00",
        SEMANTIC_SKELETONS,
    ),
    // ICU4X 2.4's field sets: no flexible day periods ("in the afternoon"), and a time always
    // starts at the hour.
    ("dayPeriod", "2 PM", ICU4X_FIELD_SETS),
    ("fractional seconds", "2:07:09.045 PM", ICU4X_FIELD_SETS),
    // ECMA-402 (2024) orders pluralCategories as CLDR does (zero, one, two, few, many, other);
    // Node 20 sorts them alphabetically.
    ("pl categories", "one,few,many,other", PLURAL_ORDER),
    ("en ordinal categories", "one,two,few,other", PLURAL_ORDER),
];

const SEMANTIC_SKELETONS: &str = "ICU4X picks patterns by semantic skeleton and length";
const ICU4X_FIELD_SETS: &str = "ICU4X 2.4 has no flexible day periods and no time without hours";
const PLURAL_ORDER: &str = "ECMA-402 now orders plural categories like CLDR";

/// Runs every case of `intl/cases.js` in the sandbox: `[constructor, label, output]`.
async fn run_cases() -> Vec<(String, String, String)> {
    let js = format!(
        "{}\nexport default () => CASES.map(([c, l, f]) => {{ let v; try {{ v = String(f()); }} catch (e) {{ v = 'THROWS ' + e.name + ': ' + e.message; }} return [c, l, v]; }});",
        include_str!("intl/cases.js")
    );
    let wl = one_node(&js);
    serde_json::from_value(output_of(&wl, json!({})).await).expect("cases return triples")
}

#[tokio::test]
async fn intl_matches_node_per_constructor() {
    let expected: Vec<(String, String, String)> =
        serde_json::from_str(include_str!("intl/node20.json")).unwrap();
    let got = run_cases().await;
    assert_eq!(got.len(), expected.len());
    let mut rates: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut accepted = 0;
    for ((ctor, label, ours), (_, _, node)) in got.iter().zip(&expected) {
        let rate = rates.entry(ctor.clone()).or_default();
        rate.1 += 1;
        if ours == node {
            rate.0 += 1;
            continue;
        }
        if KNOWN_DIFFERENCES
            .iter()
            .any(|(l, o, _)| l == label && o == ours)
        {
            accepted += 1;
        } else {
            failures.push(format!("{ctor} / {label}: sandbox {ours:?}, node {node:?}"));
        }
    }
    for (ctor, (pass, total)) in &rates {
        println!(
            "Intl compat {ctor}: {pass}/{total} identical to Node 20 ({:.0} %)",
            100.0 * *pass as f64 / *total as f64
        );
    }
    println!("Intl compat: {accepted} known differences (CLDR version, ICU4X patterns)");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // A known difference that no longer happens should leave the list.
    assert_eq!(
        accepted,
        KNOWN_DIFFERENCES.len(),
        "a known difference is stale"
    );
}

#[tokio::test]
async fn a_run_cannot_change_intl_or_to_locale_string_for_the_next_one() {
    let sb = single_worker();
    let tamper = one_node(
        r#"export default () => {
            const attempts = {
                format: () => { Intl.DateTimeFormat.prototype.formatToParts = () => []; },
                toLocaleString: () => { Date.prototype.toLocaleString = () => "hacked"; },
                numberLocale: () => { Number.prototype.toLocaleString = () => "hacked"; },
                localeCompare: () => { String.prototype.localeCompare = () => 0; },
                intlMember: () => { Intl.NumberFormat = class {}; },
                intlGlobal: () => { globalThis.Intl = {}; },
                defineOnProto: () => { Object.defineProperty(Intl.Collator.prototype, "compare", { get: () => () => 0 }); },
            };
            const refused = {};
            for (const [name, attempt] of Object.entries(attempts)) {
                try { attempt(); refused[name] = false; } catch (e) { refused[name] = e instanceof TypeError; }
            }
            return refused;
        }"#,
    );
    let (out, json) = run_bounded(&sb, &tamper, json!({})).await;
    assert!(out.succeeded(), "{json}");
    for (name, refused) in json["output"].as_object().unwrap() {
        assert_eq!(
            refused,
            &Value::Bool(true),
            "{name} was not refused: {json}"
        );
    }
    let check = one_node(
        r#"export default () => [
            new Date(Date.UTC(2024, 2, 31, 1, 30)).toLocaleString("de-DE", { timeZone: "Europe/Berlin" }),
            new Intl.DateTimeFormat("en", { timeZone: "UTC", year: "numeric" }).formatToParts(0).length,
            (1234.5).toLocaleString("en"),
            "a".localeCompare("b"),
            typeof Object.getOwnPropertyDescriptor(Intl.NumberFormat.prototype, "format").get,
        ]"#,
    );
    for _ in 0..2 {
        let (out, json) = run_bounded(&sb, &check, json!({})).await;
        assert!(out.succeeded(), "{json}");
        assert_eq!(
            json["output"],
            json!(["31.3.2024, 03:30:00", 1, "1,234.5", -1, "function"]),
            "{json}"
        );
    }
}

#[tokio::test]
async fn bad_input_throws_instead_of_crashing() {
    let wl = one_node(
        r#"export default () => {
            const outcomes = [];
            const attempt = (f) => { try { f(); outcomes.push("ok"); } catch (e) { outcomes.push(e.name); } };
            attempt(() => new Intl.DateTimeFormat("en").format(8.64e15 + 1));
            attempt(() => new Intl.DateTimeFormat("en", { timeZone: "\u0000" }));
            attempt(() => new Intl.NumberFormat("en").format(1e308));
            attempt(() => new Intl.NumberFormat("en", { minimumFractionDigits: 3, maximumFractionDigits: 1 }));
            attempt(() => new Intl.RelativeTimeFormat("en").format(Infinity, "day"));
            attempt(() => new Intl.PluralRules("en").select(NaN));
            attempt(() => new Intl.Collator("en").compare("\uD800", "x"));
            attempt(() => Intl.getCanonicalLocales("not a locale"));
            attempt(() => new Intl.DateTimeFormat("zz-ZZ").format(0));
            attempt(() => new Intl.DateTimeFormat("en", { dateStyle: "full", timeStyle: "full", timeZone: "Pacific/Kiritimati" }).format(-8.64e15));
            attempt(() => new Intl.DateTimeFormat("ja", { era: "long", year: "numeric", timeZone: "UTC" }).format(8.64e15));
            attempt(() => new Intl.NumberFormat("en", { maximumFractionDigits: 100 }).format(0.1));
            attempt(() => new Intl.NumberFormat("de", { notation: "compact", compactDisplay: "long" }).format(1e300));
            attempt(() => new Intl.NumberFormat("en", { maximumSignificantDigits: 1 }).format(9.99e-300));
            attempt(() => (2n ** 4000n).toLocaleString("fr"));
            attempt(() => new Intl.RelativeTimeFormat("pl", { style: "narrow" }).format(-1e15, "quarters"));
            // What the sandbox leaves out is refused, not formatted differently.
            attempt(() => new Intl.NumberFormat("en", { style: "currency", currency: "USD", currencyDisplay: "name" }));
            attempt(() => new Intl.NumberFormat("en", { style: "currency", currency: "USD", currencySign: "accounting" }));
            attempt(() => new Intl.NumberFormat("en", { notation: "scientific" }));
            attempt(() => new Intl.NumberFormat("en", { style: "unit", unit: "meter" }));
            attempt(() => new Intl.DateTimeFormat("en", { calendar: "japanese" }));
            return outcomes;
        }"#,
    );
    assert_eq!(
        output_of(&wl, json!({})).await,
        json!([
            "RangeError",
            "RangeError",
            "ok",
            "RangeError",
            "RangeError",
            "ok",
            "ok",
            "RangeError",
            "ok",
            "ok",
            "ok",
            "ok",
            "ok",
            "ok",
            "ok",
            "ok",
            "RangeError",
            "RangeError",
            "RangeError",
            "RangeError",
            "RangeError"
        ])
    );
}
