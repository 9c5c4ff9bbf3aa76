//! How often a peer may send one kind of message: a token bucket that lets
//! bursts through, ignores what comes faster than the rate, and calls a
//! sender that keeps far above it a flood.

use std::time::Instant;

use crate::protocol::limits::Limit;

/// How far a sender may run past an empty bucket, in bursts, before it is a flood.
const FLOOD: f64 = 10.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Take,
    /// Faster than the rate: ignore this one.
    Skip,
    /// Far faster than the rate, for long: drop the sender.
    Flood,
}

#[derive(Debug, Clone)]
pub struct Rate {
    limit: Limit,
    /// Below zero: messages ignored, not yet made up for by time.
    tokens: f64,
    last: Instant,
}

impl Rate {
    pub fn new(limit: Limit, now: Instant) -> Self {
        Self { limit, tokens: limit.burst, last: now }
    }

    pub fn check(&mut self, now: Instant) -> Verdict {
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * self.limit.per_second;
        self.last = now;
        self.tokens = (self.tokens + refill).min(self.limit.burst) - 1.0;
        if self.tokens >= 0.0 {
            Verdict::Take
        } else if self.tokens < -FLOOD * self.limit.burst {
            Verdict::Flood
        } else {
            Verdict::Skip
        }
    }

    /// Takes a token if there is one. Unlike [`Rate::check`], what comes
    /// while the bucket is empty leaves no debt behind: a gate that a flood
    /// hits opens again as soon as the flood stops.
    pub fn admit(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * self.limit.per_second;
        self.last = now;
        self.tokens = (self.tokens.max(0.0) + refill).min(self.limit.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const LIMIT: Limit = Limit { per_second: 100.0, burst: 10.0 };

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut r = Rate::new(LIMIT, t0);
        assert!((0..10).all(|_| r.check(t0) == Verdict::Take));
        assert_eq!(r.check(t0), Verdict::Skip);
        // 100 per second: one every 10 ms is always taken.
        let mut r = Rate::new(LIMIT, t0);
        assert!((1..1000).all(|i| r.check(t0 + Duration::from_millis(10 * i)) == Verdict::Take));
    }

    #[test]
    fn a_sender_far_above_the_rate_is_a_flood_and_a_brief_one_is_not() {
        let t0 = Instant::now();
        let mut r = Rate::new(LIMIT, t0);
        let verdicts: Vec<Verdict> = (0..200).map(|_| r.check(t0)).collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Take).count(), 10);
        assert_eq!(verdicts.last(), Some(&Verdict::Flood));
        // Twice the rate for a second is skipped in part, never a flood.
        let mut r = Rate::new(LIMIT, t0);
        let verdicts: Vec<Verdict> = (1..=200).map(|i| r.check(t0 + Duration::from_millis(5 * i))).collect();
        assert!(!verdicts.contains(&Verdict::Flood));
        assert!(verdicts.contains(&Verdict::Skip));
    }

    #[test]
    fn a_gate_opens_again_as_soon_as_a_flood_stops() {
        let t0 = Instant::now();
        let mut r = Rate::new(LIMIT, t0);
        let passed = (0..100_000).filter(|_| r.admit(t0)).count();
        assert_eq!(passed, 10, "a burst, then nothing");
        // One rate's worth of time later, the next one passes.
        assert!(r.admit(t0 + Duration::from_millis(10)));
        assert!(!r.admit(t0 + Duration::from_millis(10)));
    }
}
