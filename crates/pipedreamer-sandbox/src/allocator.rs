//! The memory allocator: mimalloc for QuickJS heaps (`heap.rs`) and, in the engine binary, for
//! everything else ([`Global`]). Runs allocate and free many small objects (QuickJS values and
//! shapes, JSON text, request buffers); mimalloc's thread-local free lists cost about 8 % less CPU
//! per run of `examples/hello` than glibc's arenas (see issue 17's note).
//!
//! Memory goes back to the system: mimalloc is built without transparent huge pages (they
//! added ~14 MiB of idle RSS), large blocks bypass both allocators' caches ([`tune`]), and after
//! large fetches a worker asks both to return what they freed ([`release_freed_memory`]).
//! glibc's tunables matter for binaries that keep it as their global allocator (the
//! `pipedreamer` CLI).

/// The allocator the engine binary installs with `#[global_allocator]`.
pub type Global = mimalloc::MiMalloc;

/// mimalloc's `mi_option_arena_max_object_size` (its index in `mi_option_e`, mimalloc.h v3, as
/// vendored by libmimalloc-sys 0.1.49; the `-sys` crate's Rust constants stop short of it).
/// `tests/memory.rs` in the engine fails if this stops meaning what it says.
const MI_OPTION_ARENA_MAX_OBJECT_SIZE: libmimalloc_sys::mi_option_t = 45;

/// Blocks this large or larger come straight from the system and go straight back when freed.
const DIRECT_FROM_THE_SYSTEM: usize = 1 << 20;

/// Allocator tunables, set once before the worker threads start.
///
/// Blocks of 1 MiB or more come from the system and go back to it when freed, in both
/// allocators. Kept in mimalloc's arenas or glibc's heaps instead, big fetch bodies and the
/// strings made from them stayed resident after the runs that used them (mimalloc purges its
/// arenas only when the thread allocates again, which an idle engine does not; glibc's threshold
/// grows to the largest block freed, up to 32 MiB: a burst of parallel 15 MiB fetches kept the
/// engine at 360 MB for good). glibc's trim threshold is set to twice that, as its own rule
/// would, so that ordinary churn does not hand pages back and forth.
pub(crate) fn tune() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: both only change allocator tunables (mimalloc's option is in KiB).
        #[allow(unsafe_code)]
        unsafe {
            libmimalloc_sys::mi_option_set(
                MI_OPTION_ARENA_MAX_OBJECT_SIZE,
                (DIRECT_FROM_THE_SYSTEM >> 10) as std::ffi::c_long,
            );
            libc::mallopt(libc::M_MMAP_THRESHOLD, DIRECT_FROM_THE_SYSTEM as i32);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 2 * DIRECT_FROM_THE_SYSTEM as i32);
        }
    });
}

/// Hands memory this thread freed back to the system now, from both allocators (mimalloc would
/// otherwise purge it after a delay, glibc keep it in the thread's arena).
pub(crate) fn release_freed_memory() {
    // SAFETY: both calls only release free memory; neither has preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_collect(true);
        libc::malloc_trim(0);
    }
}

/// Hands back to the system what mimalloc's arenas have held free for longer than its purge
/// delay. mimalloc does this only when some thread allocates or collects, so after a burst an
/// idle engine would keep the memory; the pool's watchdog calls this on its beat. Cheap: the
/// calling thread's heap is tiny, and only arenas with purges due are visited.
pub(crate) fn purge_due() {
    // SAFETY: only releases free memory; no preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_collect(false);
    }
}

/// QuickJS's allocation functions, on mimalloc.
pub(crate) mod js {
    // SAFETY (all): thin wrappers over mimalloc's C API; pointers passed in must come from these
    // same functions, which `heap::CountingMalloc` guarantees.
    #![allow(unsafe_code)]
    use std::ffi::c_void;

    pub(crate) fn malloc(size: usize) -> *mut u8 {
        unsafe { libmimalloc_sys::mi_malloc(size) }.cast()
    }

    pub(crate) fn calloc(count: usize, size: usize) -> *mut u8 {
        unsafe { libmimalloc_sys::mi_calloc(count, size) }.cast()
    }

    /// # Safety
    /// `ptr` is null or came from this module and was not freed.
    pub(crate) unsafe fn realloc(ptr: *mut u8, size: usize) -> *mut u8 {
        unsafe { libmimalloc_sys::mi_realloc(ptr.cast::<c_void>(), size) }.cast()
    }

    /// # Safety
    /// As [`realloc`].
    pub(crate) unsafe fn free(ptr: *mut u8) {
        unsafe { libmimalloc_sys::mi_free(ptr.cast::<c_void>()) }
    }

    /// # Safety
    /// As [`realloc`].
    pub(crate) unsafe fn usable_size(ptr: *mut u8) -> usize {
        unsafe { libmimalloc_sys::mi_usable_size(ptr.cast::<c_void>()) }
    }
}
