//! Generates `../baked`: the ICU4X data behind the sandbox's `Intl` (see `src/web/intl.rs`).
//!
//! The source is ICU4X's own compiled data (the `icu_*_data` crates, CLDR 49), read through their
//! iterable baked providers and exported again for the sandbox's locales only, with locale
//! fallback deduplication. All-locale compiled data would add about 6 MB to the engine; this
//! adds about 1.2 MB. Locale-independent data (collation root, normalization, time zone
//! identifiers and periods, currency fractions) is not exported: the runtime provider forwards
//! those markers to the component crates' compiled data, so they are linked once.
//!
//! Run `../generate.sh` after changing the locales or markers, or upgrading ICU4X.
#![allow(unused_crate_dependencies)]
extern crate alloc;

use icu_provider::prelude::*;

macro_rules! singletons_are_iterable {
    ($($marker:ty),* $(,)?) => {$(
        impl icu_provider::IterableDataProvider<$marker> for Source {
            fn iter_ids(&self) -> Result<std::collections::BTreeSet<DataIdentifierCow<'static>>, DataError> {
                Ok([DataIdentifierCow::default()].into_iter().collect())
            }
        }
    )*};
}

/// The locales `Intl` supports (each with its ancestors, e.g. en-GB → en-001 → en).
const LOCALES: [&str; 11] = [
    "en", "en-GB", "de", "fr", "es", "it", "pt", "nl", "pl", "ja", "zh",
];

/// The names the data crates' macros expect (`icu::datetime::…`), without the `icu` meta crate.
mod icu {
    pub use icu_calendar as calendar;
    pub use icu_collator as collator;
    pub use icu_collections as collections;
    pub use icu_datetime as datetime;
    pub use icu_decimal as decimal;
    pub use icu_experimental as experimental;
    pub use icu_plurals as plurals;
}

use icu_calendar_data::__impl_calendar_preferred_v1;
use icu_calendar_data::__impl_calendar_week_v1;
use icu_collator_data::__impl_collation_diacritics_v1;
use icu_collator_data::__impl_collation_metadata_v1;
use icu_collator_data::__impl_collation_reordering_v1;
use icu_collator_data::__impl_collation_tailoring_v1;
use icu_datetime_data::__impl_datetime_names_dayperiod_v1;
use icu_datetime_data::__impl_datetime_names_month_gregorian_v1;
use icu_datetime_data::__impl_datetime_names_weekday_v1;
use icu_datetime_data::__impl_datetime_names_year_gregorian_v1;
use icu_datetime_data::__impl_datetime_patterns_date_gregorian_v1;
use icu_datetime_data::__impl_datetime_patterns_glue_v1;
use icu_datetime_data::__impl_datetime_patterns_time_v1;
use icu_datetime_data::__impl_timezone_names_cities_override_v1;
use icu_datetime_data::__impl_timezone_names_cities_root_v1;
use icu_datetime_data::__impl_timezone_names_essentials_v1;
use icu_datetime_data::__impl_timezone_names_generic_long_v1;
use icu_datetime_data::__impl_timezone_names_generic_short_v1;
use icu_datetime_data::__impl_timezone_names_locations_override_v1;
use icu_datetime_data::__impl_timezone_names_locations_root_v1;
use icu_datetime_data::__impl_timezone_names_specific_long_v1;
use icu_datetime_data::__impl_timezone_names_specific_short_v1;
use icu_datetime_data::__impl_timezone_names_standard_long_v1;
use icu_decimal_data::__impl_decimal_compact_long_v1;
use icu_decimal_data::__impl_decimal_compact_short_v1;
use icu_decimal_data::__impl_decimal_digits_v1;
use icu_decimal_data::__impl_decimal_symbols_v1;
use icu_experimental_data::__impl_currency_decimal_symbols_v1;
use icu_experimental_data::__impl_currency_essentials_v1;
use icu_experimental_data::__impl_currency_patterns_no_currency_v1;
use icu_experimental_data::__impl_currency_symbols_v1;
use icu_experimental_data::__impl_datetime_relative_day_long_v1;
use icu_experimental_data::__impl_datetime_relative_day_narrow_v1;
use icu_experimental_data::__impl_datetime_relative_day_short_v1;
use icu_experimental_data::__impl_datetime_relative_hour_long_v1;
use icu_experimental_data::__impl_datetime_relative_hour_narrow_v1;
use icu_experimental_data::__impl_datetime_relative_hour_short_v1;
use icu_experimental_data::__impl_datetime_relative_minute_long_v1;
use icu_experimental_data::__impl_datetime_relative_minute_narrow_v1;
use icu_experimental_data::__impl_datetime_relative_minute_short_v1;
use icu_experimental_data::__impl_datetime_relative_month_long_v1;
use icu_experimental_data::__impl_datetime_relative_month_narrow_v1;
use icu_experimental_data::__impl_datetime_relative_month_short_v1;
use icu_experimental_data::__impl_datetime_relative_quarter_long_v1;
use icu_experimental_data::__impl_datetime_relative_quarter_narrow_v1;
use icu_experimental_data::__impl_datetime_relative_quarter_short_v1;
use icu_experimental_data::__impl_datetime_relative_second_long_v1;
use icu_experimental_data::__impl_datetime_relative_second_narrow_v1;
use icu_experimental_data::__impl_datetime_relative_second_short_v1;
use icu_experimental_data::__impl_datetime_relative_week_long_v1;
use icu_experimental_data::__impl_datetime_relative_week_narrow_v1;
use icu_experimental_data::__impl_datetime_relative_week_short_v1;
use icu_experimental_data::__impl_datetime_relative_year_long_v1;
use icu_experimental_data::__impl_datetime_relative_year_narrow_v1;
use icu_experimental_data::__impl_datetime_relative_year_short_v1;
use icu_experimental_data::__impl_decimal_percent_v1;
use icu_plurals_data::__impl_plurals_cardinal_v1;
use icu_plurals_data::__impl_plurals_ordinal_v1;


/// ICU4X's compiled data, iterable so it can be exported again.
struct Source;
icu_datetime_data::make_provider!(Source);
icu_datetime_data::impl_datetime_names_dayperiod_v1!(Source, ITER);
icu_datetime_data::impl_datetime_names_month_gregorian_v1!(Source, ITER);
icu_datetime_data::impl_datetime_names_weekday_v1!(Source, ITER);
icu_datetime_data::impl_datetime_names_year_gregorian_v1!(Source, ITER);
icu_datetime_data::impl_datetime_patterns_date_gregorian_v1!(Source, ITER);
icu_datetime_data::impl_datetime_patterns_glue_v1!(Source, ITER);
icu_datetime_data::impl_datetime_patterns_time_v1!(Source, ITER);
icu_datetime_data::impl_timezone_names_cities_override_v1!(Source, ITER);
icu_datetime_data::impl_timezone_names_cities_root_v1!(Source, ITER);
icu_datetime_data::impl_timezone_names_essentials_v1!(Source, ITER);
icu_datetime_data::impl_timezone_names_generic_long_v1!(Source, ITER);
icu_datetime_data::impl_timezone_names_generic_short_v1!(Source, ITER);
icu_datetime_data::impl_timezone_names_locations_override_v1!(Source, ITER);
icu_datetime_data::impl_timezone_names_locations_root_v1!(Source, ITER);
icu_datetime_data::impl_timezone_names_specific_long_v1!(Source, ITER);
icu_datetime_data::impl_timezone_names_specific_short_v1!(Source, ITER);
icu_datetime_data::impl_timezone_names_standard_long_v1!(Source, ITER);
icu_decimal_data::impl_decimal_compact_long_v1!(Source, ITER);
icu_decimal_data::impl_decimal_compact_short_v1!(Source, ITER);
icu_decimal_data::impl_decimal_digits_v1!(Source, ITER);
icu_decimal_data::impl_decimal_symbols_v1!(Source, ITER);
icu_plurals_data::impl_plurals_cardinal_v1!(Source, ITER);
icu_plurals_data::impl_plurals_ordinal_v1!(Source, ITER);
icu_collator_data::impl_collation_diacritics_v1!(Source, ITER);
icu_collator_data::impl_collation_metadata_v1!(Source, ITER);
icu_collator_data::impl_collation_reordering_v1!(Source, ITER);
icu_collator_data::impl_collation_tailoring_v1!(Source, ITER);
icu_experimental_data::impl_currency_essentials_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_day_long_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_day_narrow_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_day_short_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_hour_long_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_hour_narrow_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_hour_short_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_minute_long_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_minute_narrow_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_minute_short_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_month_long_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_month_narrow_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_month_short_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_quarter_long_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_quarter_narrow_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_quarter_short_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_second_long_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_second_narrow_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_second_short_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_week_long_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_week_narrow_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_week_short_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_year_long_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_year_narrow_v1!(Source, ITER);
icu_experimental_data::impl_datetime_relative_year_short_v1!(Source, ITER);
icu_experimental_data::impl_decimal_percent_v1!(Source, ITER);
icu_calendar_data::impl_calendar_preferred_v1!(Source, ITER);
icu_calendar_data::impl_calendar_week_v1!(Source, ITER);
icu_experimental_data::impl_currency_symbols_v1!(Source, ITER);
icu_experimental_data::impl_currency_patterns_no_currency_v1!(Source, ITER);
icu_experimental_data::impl_currency_decimal_symbols_v1!(Source, ITER);

// Singletons: the data crates' `ITER` arm for them does not compile in 2.4 (`BtreeSet`), and
// a singleton's only identifier is the empty one.
icu_collator_data::impl_collation_root_v1!(Source);
icu_collator_data::impl_collation_jamo_v1!(Source);
icu_collator_data::impl_collation_special_primaries_v1!(Source);
icu_experimental_data::impl_currency_fractions_v1!(Source);
singletons_are_iterable!(
    icu::collator::provider::CollationRootV1,
    icu::collator::provider::CollationJamoV1,
    icu::collator::provider::CollationSpecialPrimariesV1,
    icu::experimental::dimension::provider::currency::fractions::CurrencyFractionsV1,
);

icu_provider::export::make_exportable_provider!(
    Source,
    [
        icu::datetime::provider::names::DatetimeNamesDayperiodV1,
        icu::datetime::provider::names::DatetimeNamesMonthGregorianV1,
        icu::datetime::provider::names::DatetimeNamesWeekdayV1,
        icu::datetime::provider::names::DatetimeNamesYearGregorianV1,
        icu::datetime::provider::semantic_skeletons::DatetimePatternsDateGregorianV1,
        icu::datetime::provider::semantic_skeletons::DatetimePatternsGlueV1,
        icu::datetime::provider::semantic_skeletons::DatetimePatternsTimeV1,
        icu::datetime::provider::time_zones::TimezoneNamesCitiesOverrideV1,
        icu::datetime::provider::time_zones::TimezoneNamesCitiesRootV1,
        icu::datetime::provider::time_zones::TimezoneNamesEssentialsV1,
        icu::datetime::provider::time_zones::TimezoneNamesGenericLongV1,
        icu::datetime::provider::time_zones::TimezoneNamesGenericShortV1,
        icu::datetime::provider::time_zones::TimezoneNamesLocationsOverrideV1,
        icu::datetime::provider::time_zones::TimezoneNamesLocationsRootV1,
        icu::datetime::provider::time_zones::TimezoneNamesSpecificLongV1,
        icu::datetime::provider::time_zones::TimezoneNamesSpecificShortV1,
        icu::datetime::provider::time_zones::TimezoneNamesStandardLongV1,
        icu::decimal::provider::DecimalCompactLongV1,
        icu::decimal::provider::DecimalCompactShortV1,
        icu::decimal::provider::DecimalDigitsV1,
        icu::decimal::provider::DecimalSymbolsV1,
        icu::plurals::provider::PluralsCardinalV1,
        icu::plurals::provider::PluralsOrdinalV1,
        icu::collator::provider::CollationDiacriticsV1,
        icu::collator::provider::CollationMetadataV1,
        icu::collator::provider::CollationReorderingV1,
        icu::collator::provider::CollationTailoringV1,
        icu::experimental::dimension::provider::currency::essentials::CurrencyEssentialsV1,
        icu::experimental::relativetime::provider::DatetimeRelativeDayLongV1,
        icu::experimental::relativetime::provider::DatetimeRelativeDayNarrowV1,
        icu::experimental::relativetime::provider::DatetimeRelativeDayShortV1,
        icu::experimental::relativetime::provider::DatetimeRelativeHourLongV1,
        icu::experimental::relativetime::provider::DatetimeRelativeHourNarrowV1,
        icu::experimental::relativetime::provider::DatetimeRelativeHourShortV1,
        icu::experimental::relativetime::provider::DatetimeRelativeMinuteLongV1,
        icu::experimental::relativetime::provider::DatetimeRelativeMinuteNarrowV1,
        icu::experimental::relativetime::provider::DatetimeRelativeMinuteShortV1,
        icu::experimental::relativetime::provider::DatetimeRelativeMonthLongV1,
        icu::experimental::relativetime::provider::DatetimeRelativeMonthNarrowV1,
        icu::experimental::relativetime::provider::DatetimeRelativeMonthShortV1,
        icu::experimental::relativetime::provider::DatetimeRelativeQuarterLongV1,
        icu::experimental::relativetime::provider::DatetimeRelativeQuarterNarrowV1,
        icu::experimental::relativetime::provider::DatetimeRelativeQuarterShortV1,
        icu::experimental::relativetime::provider::DatetimeRelativeSecondLongV1,
        icu::experimental::relativetime::provider::DatetimeRelativeSecondNarrowV1,
        icu::experimental::relativetime::provider::DatetimeRelativeSecondShortV1,
        icu::experimental::relativetime::provider::DatetimeRelativeWeekLongV1,
        icu::experimental::relativetime::provider::DatetimeRelativeWeekNarrowV1,
        icu::experimental::relativetime::provider::DatetimeRelativeWeekShortV1,
        icu::experimental::relativetime::provider::DatetimeRelativeYearLongV1,
        icu::experimental::relativetime::provider::DatetimeRelativeYearNarrowV1,
        icu::experimental::relativetime::provider::DatetimeRelativeYearShortV1,
        icu::experimental::dimension::provider::percent::DecimalPercentV1,
        icu::calendar::provider::CalendarPreferredV1,
        icu::calendar::provider::CalendarWeekV1,
        icu::experimental::dimension::provider::currency::symbols::CurrencySymbolsV1,
        icu::experimental::dimension::provider::currency::no_currency::CurrencyPatternsNoCurrencyV1,
        icu::experimental::dimension::provider::currency::symbols::CurrencyDecimalSymbolsV1,
        icu::collator::provider::CollationRootV1,
        icu::collator::provider::CollationJamoV1,
        icu::collator::provider::CollationSpecialPrimariesV1,
        icu::experimental::dimension::provider::currency::fractions::CurrencyFractionsV1,
    ]
);

fn main() {
    use icu_provider_export::baked_exporter::{BakedExporter, Options};
    use icu_provider_export::prelude::*;
    let out = std::env::args_os()
        .nth(1)
        .expect("usage: intl-data-generate <output dir>");
    let families =
        LOCALES.map(|l| DataLocaleFamily::without_descendants(l.parse().expect("a locale")));
    let mut options = Options::default();
    options.overwrite = true;
    options.pretty = true;
    options.use_separate_crates = true;
    let exporter =
        BakedExporter::new(out.into(), options).expect("cannot write the output directory");
    ExportDriver::new(
        families,
        DeduplicationStrategy::Maximal.into(),
        LocaleFallbacker::new().static_to_owned(),
    )
    // Each locale's default collation only (not zh's stroke or zhuyin orders, nor search).
    .with_marker_attributes_filter("collator", |attrs| attrs.is_empty())
    .export(&Source, exporter)
    .expect("export failed");
}
