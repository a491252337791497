//! Empty extension maps, handed from requests to responses.
//!
//! Every response the pool returns carries a [`RoutedTo`](crate::RoutedTo)
//! in its extensions, and a response from hyper has no extension map: a
//! new one is an allocation and a table (~500 instructions per RPC,
//! callgrind). A request's map is never sent (hyper sends none of a gRPC
//! request's extensions), so its attempt empties it and leaves it here,
//! and a response takes one from here. Kept per thread, not per RPC: an
//! RPC waiting for its response holds no map (180 bytes per in-flight RPC,
//! `cargo bench -p squall-pool --bench footprint`), and no lock is taken.
//!
//! Bounded: at most [`MAX_SPARE_MAPS`] per thread; any more are dropped.
//! A map handed back on one thread and wanted on another (a multi-threaded
//! runtime) only means an allocation, as without this.

use std::cell::RefCell;

use http::Extensions;

/// Most empty maps kept per thread.
pub(crate) const MAX_SPARE_MAPS: usize = 16;

thread_local! {
    static SPARE: RefCell<Vec<Extensions>> = const { RefCell::new(Vec::new()) };
}

/// Keeps `map`, emptied, for a response. A map with nothing in it may
/// have no table at all, so it is not kept.
pub(crate) fn give(mut map: Extensions) {
    if map.is_empty() {
        return;
    }
    map.clear();
    // `try_with`: during thread teardown the list may be gone already.
    let _ = SPARE.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < MAX_SPARE_MAPS {
            if spare.capacity() == 0 {
                // Once per thread, sized for the bound.
                spare.reserve_exact(MAX_SPARE_MAPS);
            }
            spare.push(map);
        }
    });
}

/// An empty map for a response: a kept one, or a new one.
pub(crate) fn take() -> Extensions {
    SPARE
        .try_with(|spare| spare.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Mark;

    fn full() -> Extensions {
        let mut map = Extensions::new();
        map.insert(Mark);
        map
    }

    fn kept() -> usize {
        SPARE.with(|spare| spare.borrow().len())
    }

    /// Maps come back empty, at most `MAX_SPARE_MAPS` are kept, and a map
    /// that held nothing is not kept.
    #[test]
    fn maps_are_kept_empty_and_bounded() {
        std::thread::spawn(|| {
            give(Extensions::new());
            assert_eq!(kept(), 0, "an empty map may have no table");
            for _ in 0..MAX_SPARE_MAPS + 5 {
                give(full());
            }
            assert_eq!(kept(), MAX_SPARE_MAPS);
            let map = take();
            assert!(map.is_empty() && map.get::<Mark>().is_none());
            assert_eq!(kept(), MAX_SPARE_MAPS - 1);
            for _ in 0..MAX_SPARE_MAPS {
                let _ = take();
            }
            assert_eq!(kept(), 0);
            assert!(take().is_empty(), "a new map when none is kept");
        })
        .join()
        .expect("the test's thread");
    }
}
