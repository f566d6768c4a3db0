//! QuickJS's allocator: libc malloc, as QuickJS uses by default, plus a byte count the executor
//! reads after every run in O(1) (QuickJS's own count is only reachable through a call that
//! walks the whole heap), and the memory limit. The limit lives here rather than in QuickJS so
//! that the executor knows for sure a run failed because it hit it: by the time the error
//! reaches the executor, the run's garbage is already freed, and when even the error object
//! cannot be allocated, QuickJS throws `null`.

use rquickjs::allocator::Allocator;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// QuickJS's per-allocation overhead in its own accounting (`MALLOC_OVERHEAD`).
const OVERHEAD: usize = 8;

/// A runtime's heap: bytes held, the limit, and whether an allocation was refused; shared
/// between the allocator and the executor.
#[derive(Clone)]
pub(crate) struct HeapSize(Arc<Heap>);

struct Heap {
    used: AtomicUsize,
    limit: AtomicUsize,
    refused: AtomicBool,
}

impl Default for HeapSize {
    fn default() -> Self {
        Self(Arc::new(Heap {
            used: AtomicUsize::new(0),
            limit: AtomicUsize::new(usize::MAX),
            refused: AtomicBool::new(false),
        }))
    }
}

// A runtime is only used by its worker thread, so plain loads and stores are enough; the atomics
// only make the type shareable.
impl HeapSize {
    pub(crate) fn get(&self) -> usize {
        self.0.used.load(Ordering::Relaxed)
    }

    /// Lets the heap grow by `bytes` from now on, and clears the refused flag.
    pub(crate) fn allow_growth(&self, bytes: usize) {
        let limit = self.get().saturating_add(bytes);
        self.0.limit.store(limit, Ordering::Relaxed);
        self.0.refused.store(false, Ordering::Relaxed);
    }

    /// Whether an allocation was refused since the last [`Self::allow_growth`].
    pub(crate) fn limit_hit(&self) -> bool {
        self.0.refused.load(Ordering::Relaxed)
    }

    fn admits(&self, size: usize) -> bool {
        let fits = self.get().saturating_add(size) <= self.0.limit.load(Ordering::Relaxed);
        if !fits {
            self.0.refused.store(true, Ordering::Relaxed);
        }
        fits
    }

    fn add(&self, n: usize) {
        self.0
            .used
            .store(self.get().wrapping_add(n), Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        self.0
            .used
            .store(self.get().wrapping_sub(n), Ordering::Relaxed);
    }
}

/// Bytes a run holds outside QuickJS (fetch bodies being buffered), counted against its memory
/// limit like its JavaScript allocations until dropped.
pub(crate) struct Reservation {
    heap: HeapSize,
    bytes: usize,
}

impl HeapSize {
    /// An empty reservation on this heap.
    pub(crate) fn reservation(&self) -> Reservation {
        Reservation {
            heap: self.clone(),
            bytes: 0,
        }
    }
}

impl Reservation {
    /// Bytes taken so far.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

impl crate::fetch::BodyBudget for Reservation {
    fn take(&mut self, bytes: usize) -> bool {
        if !self.heap.admits(bytes) {
            return false;
        }
        self.heap.add(bytes);
        self.bytes += bytes;
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.heap.sub(self.bytes);
    }
}

/// libc malloc with a running total and a limit.
pub(crate) struct CountingMalloc(pub(crate) HeapSize);

#[allow(unsafe_code)]
// SAFETY: every pointer comes from libc's malloc family (16-byte aligned on glibc) and goes back
// to it; sizes are read with malloc_usable_size on pointers libc returned.
unsafe impl Allocator for CountingMalloc {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.0.admits(size) {
            return std::ptr::null_mut();
        }
        let ptr = unsafe { libc::malloc(size) }.cast::<u8>();
        if !ptr.is_null() {
            self.0.add(unsafe { Self::usable_size(ptr) } + OVERHEAD);
        }
        ptr
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        if !self.0.admits(count.saturating_mul(size)) {
            return std::ptr::null_mut();
        }
        let ptr = unsafe { libc::calloc(count, size) }.cast::<u8>();
        if !ptr.is_null() {
            self.0.add(unsafe { Self::usable_size(ptr) } + OVERHEAD);
        }
        ptr
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        self.0.sub(unsafe { Self::usable_size(ptr) } + OVERHEAD);
        unsafe { libc::free(ptr.cast()) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if new_size == 0 {
            // glibc's realloc would free and return null; keep the count right.
            if !ptr.is_null() {
                unsafe { self.dealloc(ptr) };
            }
            return std::ptr::null_mut();
        }
        let old = if ptr.is_null() {
            0
        } else {
            (unsafe { Self::usable_size(ptr) }) + OVERHEAD
        };
        if !self.0.admits(new_size.saturating_sub(old)) {
            return std::ptr::null_mut();
        }
        let new = unsafe { libc::realloc(ptr.cast(), new_size) }.cast::<u8>();
        if !new.is_null() {
            self.0.sub(old);
            self.0.add(unsafe { Self::usable_size(new) } + OVERHEAD);
        }
        new
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        unsafe { libc::malloc_usable_size(ptr.cast()) }
    }
}
