//! When the engine writes its state folder: a fresh joiner writes nothing
//! until the workspace has arrived; after that, what changed is appended to
//! the logs at most every [`SAVE_EVERY`] while anything changes.

use std::time::{Duration, Instant};

/// How often changes are appended to the state folder's logs.
pub(super) const SAVE_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub(super) struct Saving {
    /// False until a fresh joiner has the workspace.
    persist: bool,
    /// Something changed since the last save.
    dirty: bool,
    last: Instant,
}

impl Saving {
    pub fn new(now: Instant) -> Self {
        Self { persist: true, dirty: false, last: now }
    }

    /// A fresh joiner: nothing is written until [`Self::start`].
    pub fn hold(&mut self) {
        self.persist = false;
    }

    /// From now on the state folder follows the workspace.
    pub fn start(&mut self) {
        self.persist = true;
    }

    /// Whether anything may be written now.
    pub fn persists(&self) -> bool {
        self.persist
    }

    /// The documents changed.
    pub fn changed(&mut self) {
        self.dirty = true;
    }

    /// Whether the changes are due to be appended.
    pub fn due(&self, now: Instant) -> bool {
        self.dirty && now.duration_since(self.last) >= SAVE_EVERY
    }

    /// A save was made (or, while held, skipped): the next one waits.
    pub fn saved(&mut self, now: Instant) {
        self.last = now;
        if self.persist {
            self.dirty = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_saved_at_most_every_two_seconds_and_only_once_allowed() {
        let t0 = Instant::now();
        let mut s = Saving::new(t0);
        assert!(!s.due(t0 + SAVE_EVERY), "nothing changed");
        s.changed();
        assert!(!s.due(t0 + SAVE_EVERY / 2));
        assert!(s.due(t0 + SAVE_EVERY));
        s.saved(t0 + SAVE_EVERY);
        assert!(!s.due(t0 + SAVE_EVERY * 3), "saved, and nothing changed since");

        s.hold();
        s.changed();
        assert!(s.due(t0 + SAVE_EVERY * 3));
        s.saved(t0 + SAVE_EVERY * 3);
        assert!(!s.persists());
        assert!(s.due(t0 + SAVE_EVERY * 4), "what changed while held is still to save");
        s.start();
        s.saved(t0 + SAVE_EVERY * 4);
        assert!(!s.due(t0 + SAVE_EVERY * 9));
    }
}
