//! Natives behind `encoding.js`: UTF-8 encoding, decoding in every WHATWG encoding through
//! `encoding_rs` (streaming state in a [`Handle`]), and forgiving-base64 for `atob`/`btoa`.

use super::bytes;
use super::handle::Handle;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use encoding_rs::{CoderResult, DecoderResult, Encoding};
use rquickjs::{Class, Ctx, Exception, Function, Object, Result, TypedArray};
use std::cell::RefCell;

/// Adds the encoding natives to `natives`.
pub(crate) fn install<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    natives.set("utf8Encode", Function::new(ctx.clone(), utf8_encode)?)?;
    natives.set("encodingName", Function::new(ctx.clone(), encoding_name)?)?;
    natives.set("decoderNew", Function::new(ctx.clone(), decoder_new)?)?;
    natives.set("decode", Function::new(ctx.clone(), decode)?)?;
    natives.set("atob", Function::new(ctx.clone(), forgiving_base64_decode)?)?;
    natives.set("btoa", Function::new(ctx.clone(), base64_encode)?)?;
    Ok(())
}

/// `s` (well-formed: `encoding.js` replaces lone surrogates first) as UTF-8 bytes.
fn utf8_encode<'js>(ctx: Ctx<'js>, s: String) -> Result<TypedArray<'js, u8>> {
    bytes::to_js(&ctx, s.as_bytes())
}

/// The encoding a label names (`TextDecoder`'s `encoding`, lowercase); `None` for unknown
/// labels and for `replacement`, which the standard refuses for decoders.
fn lookup(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(label.as_bytes()).filter(|e| *e != encoding_rs::REPLACEMENT)
}

fn encoding_name(label: String) -> Option<String> {
    lookup(&label).map(|e| e.name().to_ascii_lowercase())
}

/// A `TextDecoder`'s state between `decode` calls.
pub(crate) struct DecoderState {
    encoding: &'static Encoding,
    fatal: bool,
    ignore_bom: bool,
    /// The decoder of the stream in progress; `None` between streams.
    decoder: RefCell<Option<encoding_rs::Decoder>>,
}

impl DecoderState {
    fn fresh(&self) -> encoding_rs::Decoder {
        if self.ignore_bom {
            self.encoding.new_decoder_without_bom_handling()
        } else {
            self.encoding.new_decoder_with_bom_removal()
        }
    }
}

fn decoder_new<'js>(
    ctx: Ctx<'js>,
    label: String,
    fatal: bool,
    ignore_bom: bool,
) -> Result<Class<'js, Handle<DecoderState>>> {
    let encoding = lookup(&label).ok_or_else(|| {
        Exception::throw_range(
            &ctx,
            &format!("TextDecoder: `{label}` is not an encoding this runtime knows"),
        )
    })?;
    Handle::new(
        &ctx,
        DecoderState {
            encoding,
            fatal,
            ignore_bom,
            decoder: RefCell::new(None),
        },
    )
}

/// Decodes `input` with `state`'s stream decoder; `stream` keeps an incomplete sequence at the
/// end for the next call. A malformed sequence in a `fatal` decoder is a TypeError (and ends
/// the stream).
fn decode<'js>(
    ctx: Ctx<'js>,
    state: Class<'js, Handle<DecoderState>>,
    input: Option<TypedArray<'js, u8>>,
    stream: bool,
) -> Result<String> {
    let state = &state.borrow().0;
    let decoded = match &input {
        // Read in place: a large body is not copied once more on its way to a string.
        Some(array) => bytes::with_bytes(array, |input| decode_bytes(state, input, stream)),
        None => decode_bytes(state, &[], stream),
    };
    decoded.map_err(|encoding| {
        Exception::throw_type(
            &ctx,
            &format!("TextDecoder: the data is not valid {}", encoding.name()),
        )
    })
}

/// Decodes `input` with `state`'s stream decoder (see [`decode`]); `Err` names the encoding a
/// `fatal` decoder found malformed data for.
fn decode_bytes(
    state: &DecoderState,
    input: &[u8],
    stream: bool,
) -> std::result::Result<String, &'static Encoding> {
    let mut slot = state.decoder.borrow_mut();
    let mut decoder = slot.take().unwrap_or_else(|| state.fresh());
    let last = !stream;
    let mut out = String::with_capacity(
        decoder
            .max_utf8_buffer_length(input.len())
            .unwrap_or(input.len()),
    );
    let mut src = input;
    loop {
        if state.fatal {
            let (result, read) = decoder.decode_to_string_without_replacement(src, &mut out, last);
            src = &src[read..];
            match result {
                DecoderResult::InputEmpty => break,
                DecoderResult::OutputFull => out.reserve(src.len().max(16) * 3),
                DecoderResult::Malformed(_, _) => return Err(state.encoding),
            }
        } else {
            let (result, read, _) = decoder.decode_to_string(src, &mut out, last);
            src = &src[read..];
            match result {
                CoderResult::InputEmpty => break,
                CoderResult::OutputFull => out.reserve(src.len().max(16) * 3),
            }
        }
    }
    if stream {
        *slot = Some(decoder);
    }
    Ok(out)
}

/// forgiving-base64 decode (HTML standard) as a binary string (one char per byte); `None` on
/// failure (`atob` throws `InvalidCharacterError`).
fn forgiving_base64_decode(input: String) -> Option<String> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone),
    );
    let mut data: Vec<u8> = input
        .bytes()
        .filter(|b| !matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' '))
        .collect();
    if data.len().is_multiple_of(4) {
        for _ in 0..2 {
            if data.last() == Some(&b'=') {
                data.pop();
            }
        }
    }
    if data.len() % 4 == 1 {
        return None;
    }
    let decoded = ENGINE.decode(&data).ok()?;
    Some(decoded.into_iter().map(char::from).collect())
}

/// base64 of a binary string; `None` when a char is above U+00FF (`btoa` throws).
fn base64_encode(input: String) -> Option<String> {
    let bytes = input
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgiving_base64_follows_the_html_standard() {
        assert_eq!(
            forgiving_base64_decode(" YW Jj\n".into()).as_deref(),
            Some("abc")
        );
        assert_eq!(forgiving_base64_decode("YQ==".into()).as_deref(), Some("a"));
        assert_eq!(forgiving_base64_decode("YQ".into()).as_deref(), Some("a"));
        assert_eq!(forgiving_base64_decode("YR".into()).as_deref(), Some("a"));
        assert_eq!(forgiving_base64_decode("YQ=".into()), None);
        assert_eq!(forgiving_base64_decode("Y".into()), None);
        assert_eq!(forgiving_base64_decode("Y===".into()), None);
        assert_eq!(
            forgiving_base64_decode("/w==".into()).as_deref(),
            Some("\u{ff}")
        );
        assert_eq!(base64_encode("\u{ff}".into()).as_deref(), Some("/w=="));
        assert_eq!(base64_encode("\u{100}".into()), None);
    }
}
