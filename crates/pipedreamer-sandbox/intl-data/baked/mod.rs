// @generated
include!("datetime_relative_hour_long_v1.rs.data");
include!("datetime_patterns_date_gregorian_v1.rs.data");
include!("datetime_relative_quarter_long_v1.rs.data");
include!("datetime_patterns_time_v1.rs.data");
include!("datetime_names_month_gregorian_v1.rs.data");
include!("datetime_relative_quarter_short_v1.rs.data");
include!("collation_reordering_v1.rs.data");
include!("datetime_relative_week_long_v1.rs.data");
include!("datetime_names_dayperiod_v1.rs.data");
include!("datetime_relative_minute_long_v1.rs.data");
include!("collation_diacritics_v1.rs.data");
include!("calendar_preferred_v1.rs.data");
include!("datetime_names_weekday_v1.rs.data");
include!("datetime_relative_second_short_v1.rs.data");
include!("datetime_relative_month_narrow_v1.rs.data");
include!("datetime_relative_month_long_v1.rs.data");
include!("plurals_ordinal_v1.rs.data");
include!("decimal_symbols_v1.rs.data");
include!("datetime_relative_day_long_v1.rs.data");
include!("datetime_relative_second_narrow_v1.rs.data");
include!("datetime_relative_week_narrow_v1.rs.data");
include!("timezone_names_locations_root_v1.rs.data");
include!("datetime_relative_quarter_narrow_v1.rs.data");
include!("datetime_relative_hour_narrow_v1.rs.data");
include!("timezone_names_specific_short_v1.rs.data");
include!("datetime_relative_year_long_v1.rs.data");
include!("datetime_patterns_glue_v1.rs.data");
include!("datetime_relative_minute_short_v1.rs.data");
include!("currency_patterns_no_currency_v1.rs.data");
include!("datetime_relative_hour_short_v1.rs.data");
include!("timezone_names_cities_root_v1.rs.data");
include!("collation_jamo_v1.rs.data");
include!("datetime_relative_week_short_v1.rs.data");
include!("datetime_relative_day_narrow_v1.rs.data");
include!("collation_metadata_v1.rs.data");
include!("plurals_cardinal_v1.rs.data");
include!("datetime_relative_day_short_v1.rs.data");
include!("timezone_names_generic_short_v1.rs.data");
include!("timezone_names_specific_long_v1.rs.data");
include!("collation_tailoring_v1.rs.data");
include!("decimal_digits_v1.rs.data");
include!("currency_essentials_v1.rs.data");
include!("timezone_names_essentials_v1.rs.data");
include!("currency_decimal_symbols_v1.rs.data");
include!("calendar_week_v1.rs.data");
include!("timezone_names_cities_override_v1.rs.data");
include!("datetime_relative_month_short_v1.rs.data");
include!("datetime_relative_second_long_v1.rs.data");
include!("timezone_names_generic_long_v1.rs.data");
include!("collation_special_primaries_v1.rs.data");
include!("decimal_compact_short_v1.rs.data");
include!("timezone_names_standard_long_v1.rs.data");
include!("datetime_relative_year_narrow_v1.rs.data");
include!("currency_symbols_v1.rs.data");
include!("datetime_relative_year_short_v1.rs.data");
include!("decimal_compact_long_v1.rs.data");
include!("datetime_names_year_gregorian_v1.rs.data");
include!("collation_root_v1.rs.data");
include!("currency_fractions_v1.rs.data");
include!("timezone_names_locations_override_v1.rs.data");
include!("datetime_relative_minute_narrow_v1.rs.data");
include!("decimal_percent_v1.rs.data");
/// Marks a type as a data provider. You can then use macros like
/// `impl_core_helloworld_v1` to add implementations.
///
/// ```ignore
/// struct MyProvider;
/// const _: () = {
///     include!("path/to/generated/macros.rs");
///     make_provider!(MyProvider);
///     impl_core_helloworld_v1!(MyProvider);
/// }
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __make_provider {
    ($ name : ty) => {
        #[clippy::msrv = "1.88"]
        impl $name {
            #[allow(dead_code)]
            pub(crate) const MUST_USE_MAKE_PROVIDER_MACRO: () = ();
        }
        icu_provider::marker::impl_data_provider_never_marker!($name);
    };
}
#[doc(inline)]
pub use __make_provider as make_provider;
/// This macro requires the following crates:
/// * `alloc`
/// * `icu_calendar`
/// * `icu_collator`
/// * `icu_collections`
/// * `icu_datetime`
/// * `icu_decimal`
/// * `icu_experimental`
/// * `icu_locale_core`
/// * `icu_locale_fallback/compiled_data`
/// * `icu_pattern`
/// * `icu_plurals`
/// * `icu_provider`
/// * `icu_provider/baked`
/// * `zerovec`
#[allow(unused_macros)]
macro_rules! impl_data_provider {
    ($ provider : ty) => {
        make_provider!($provider);
        impl_datetime_relative_hour_long_v1!($provider);
        impl_datetime_patterns_date_gregorian_v1!($provider);
        impl_datetime_relative_quarter_long_v1!($provider);
        impl_datetime_patterns_time_v1!($provider);
        impl_datetime_names_month_gregorian_v1!($provider);
        impl_datetime_relative_quarter_short_v1!($provider);
        impl_collation_reordering_v1!($provider);
        impl_datetime_relative_week_long_v1!($provider);
        impl_datetime_names_dayperiod_v1!($provider);
        impl_datetime_relative_minute_long_v1!($provider);
        impl_collation_diacritics_v1!($provider);
        impl_calendar_preferred_v1!($provider);
        impl_datetime_names_weekday_v1!($provider);
        impl_datetime_relative_second_short_v1!($provider);
        impl_datetime_relative_month_narrow_v1!($provider);
        impl_datetime_relative_month_long_v1!($provider);
        impl_plurals_ordinal_v1!($provider);
        impl_decimal_symbols_v1!($provider);
        impl_datetime_relative_day_long_v1!($provider);
        impl_datetime_relative_second_narrow_v1!($provider);
        impl_datetime_relative_week_narrow_v1!($provider);
        impl_timezone_names_locations_root_v1!($provider);
        impl_datetime_relative_quarter_narrow_v1!($provider);
        impl_datetime_relative_hour_narrow_v1!($provider);
        impl_timezone_names_specific_short_v1!($provider);
        impl_datetime_relative_year_long_v1!($provider);
        impl_datetime_patterns_glue_v1!($provider);
        impl_datetime_relative_minute_short_v1!($provider);
        impl_currency_patterns_no_currency_v1!($provider);
        impl_datetime_relative_hour_short_v1!($provider);
        impl_timezone_names_cities_root_v1!($provider);
        impl_collation_jamo_v1!($provider);
        impl_datetime_relative_week_short_v1!($provider);
        impl_datetime_relative_day_narrow_v1!($provider);
        impl_collation_metadata_v1!($provider);
        impl_plurals_cardinal_v1!($provider);
        impl_datetime_relative_day_short_v1!($provider);
        impl_timezone_names_generic_short_v1!($provider);
        impl_timezone_names_specific_long_v1!($provider);
        impl_collation_tailoring_v1!($provider);
        impl_decimal_digits_v1!($provider);
        impl_currency_essentials_v1!($provider);
        impl_timezone_names_essentials_v1!($provider);
        impl_currency_decimal_symbols_v1!($provider);
        impl_calendar_week_v1!($provider);
        impl_timezone_names_cities_override_v1!($provider);
        impl_datetime_relative_month_short_v1!($provider);
        impl_datetime_relative_second_long_v1!($provider);
        impl_timezone_names_generic_long_v1!($provider);
        impl_collation_special_primaries_v1!($provider);
        impl_decimal_compact_short_v1!($provider);
        impl_timezone_names_standard_long_v1!($provider);
        impl_datetime_relative_year_narrow_v1!($provider);
        impl_currency_symbols_v1!($provider);
        impl_datetime_relative_year_short_v1!($provider);
        impl_decimal_compact_long_v1!($provider);
        impl_datetime_names_year_gregorian_v1!($provider);
        impl_collation_root_v1!($provider);
        impl_currency_fractions_v1!($provider);
        impl_timezone_names_locations_override_v1!($provider);
        impl_datetime_relative_minute_narrow_v1!($provider);
        impl_decimal_percent_v1!($provider);
    };
}
