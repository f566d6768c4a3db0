//! Bytes across the boundary: a `Uint8Array` from the host modules read or copied in Rust, and Rust
//! bytes copied into a new `Uint8Array` whose memory QuickJS allocates (so it counts toward the
//! run's memory limit like any other JavaScript value).

use rquickjs::{Ctx, Result, TypedArray};

/// A copy of `array`'s bytes (empty when its buffer was detached).
#[allow(unsafe_code)]
pub(crate) fn copy_from(array: &TypedArray<'_, u8>) -> Vec<u8> {
    // SAFETY: the slice is copied at once; no JavaScript runs while it is alive.
    unsafe { array.as_bytes() }
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// Runs `f` on `array`'s bytes in place (empty when its buffer was detached), without copying
/// them: `f` must not call into JavaScript.
#[allow(unsafe_code)]
pub(crate) fn with_bytes<R>(array: &TypedArray<'_, u8>, f: impl FnOnce(&[u8]) -> R) -> R {
    // SAFETY: `f` gets no context, so no JavaScript runs (and nothing can detach or resize the
    // buffer) while the slice is alive.
    f(unsafe { array.as_bytes() }.unwrap_or_default())
}

/// A new `Uint8Array` holding a copy of `bytes`, allocated by QuickJS.
pub(crate) fn to_js<'js>(ctx: &Ctx<'js>, bytes: &[u8]) -> Result<TypedArray<'js, u8>> {
    TypedArray::new_copy(ctx.clone(), bytes)
}
