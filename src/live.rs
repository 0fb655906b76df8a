//! The live state a running server shares between its parts: the published
//! snapshot, swapped whole on reload.
//!
//! The query path only ever calls [`Live::snapshot`], a lock-free load.

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use crate::snapshot::Snapshot;

/// The published snapshot.
pub struct Live {
    /// The snapshot queries read.
    current: ArcSwap<Snapshot>,
}

impl Live {
    /// Publishes a first snapshot.
    pub fn new(snapshot: Snapshot) -> Arc<Self> {
        Arc::new(Self {
            current: ArcSwap::from_pointee(snapshot),
        })
    }

    /// The current snapshot, without locking.
    pub fn snapshot(&self) -> Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// The current snapshot as an owned handle (for work that outlives a
    /// short borrow, such as a reload that builds on it).
    pub fn snapshot_arc(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Swaps in a new snapshot in one atomic step.
    pub fn publish(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }

    /// Swaps in a snapshot the caller keeps a handle to.
    pub fn publish_arc(&self, snapshot: Arc<Snapshot>) {
        self.current.store(snapshot);
    }
}
