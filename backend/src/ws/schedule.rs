//! A connection's timed duties on one timer: pinging the client, checking
//! that its session still holds, and giving up on a client gone silent (or,
//! once closing, on one slow to take its close). One `Sleep` reset to the
//! earliest, rather than a timer each, saves every connection two timer
//! allocations and a deadline reset per frame received.

use std::time::Duration;

use tokio::time::Instant;

/// What falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    Ping,
    CheckSession,
    /// Silent past its deadline, or past its closing grace.
    Expire,
}

#[derive(Debug)]
pub struct Schedule {
    heartbeat: Duration,
    check_every: Duration,
    idle: Duration,
    ping: Instant,
    check: Instant,
    deadline: Instant,
    closing: bool,
}

impl Schedule {
    pub fn new(now: Instant, heartbeat: Duration, check_every: Duration, idle: Duration) -> Self {
        Self {
            heartbeat,
            check_every,
            idle,
            ping: now + heartbeat,
            check: now + check_every,
            deadline: now + idle,
            closing: false,
        }
    }

    /// The client was heard from: it is alive for another idle period.
    pub fn heard(&mut self, now: Instant) {
        if !self.closing {
            self.deadline = now + self.idle;
        }
    }

    /// A close is queued: only the grace for sending it counts from now.
    pub fn closing(&mut self, now: Instant, grace: Duration) {
        self.closing = true;
        self.deadline = now + grace;
    }

    /// When the timer should next wake.
    pub fn next(&self) -> Instant {
        if self.closing {
            self.deadline
        } else {
            self.deadline.min(self.ping).min(self.check)
        }
    }

    /// The duty due at `now`, if any, rescheduling it. Expiry comes first;
    /// call again until it answers `None`.
    pub fn due(&mut self, now: Instant) -> Option<Duty> {
        if now >= self.deadline {
            return Some(Duty::Expire);
        }
        if self.closing {
            return None;
        }
        if now >= self.check {
            self.check = now + self.check_every;
            return Some(Duty::CheckSession);
        }
        if now >= self.ping {
            self.ping = now + self.heartbeat;
            return Some(Duty::Ping);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn schedule(now: Instant) -> Schedule {
        Schedule::new(now, 20 * S, 30 * S, 60 * S)
    }

    /// Every duty due at `at`, in order.
    fn all_due(schedule: &mut Schedule, at: Instant) -> Vec<Duty> {
        let mut duties = Vec::new();
        while let Some(duty) = schedule.due(at) {
            duties.push(duty);
            if duty == Duty::Expire {
                break;
            }
        }
        duties
    }

    #[test]
    fn a_quiet_client_is_pinged_checked_then_expired() {
        let t0 = Instant::now();
        let mut s = schedule(t0);
        assert_eq!(s.next(), t0 + 20 * S);
        assert_eq!(all_due(&mut s, t0 + 19 * S), []);
        assert_eq!(all_due(&mut s, t0 + 20 * S), [Duty::Ping]);
        assert_eq!(s.next(), t0 + 30 * S);
        assert_eq!(all_due(&mut s, t0 + 30 * S), [Duty::CheckSession]);
        assert_eq!(s.next(), t0 + 40 * S);
        assert_eq!(all_due(&mut s, t0 + 40 * S), [Duty::Ping]);
        assert_eq!(all_due(&mut s, t0 + 60 * S), [Duty::Expire]);
    }

    #[test]
    fn hearing_from_the_client_moves_only_its_deadline() {
        let t0 = Instant::now();
        let mut s = schedule(t0);
        s.heard(t0 + 50 * S);
        assert_eq!(s.next(), t0 + 20 * S, "pings keep their rhythm");
        // Woken late (a busy node): both duties, each once.
        assert_eq!(all_due(&mut s, t0 + 65 * S), [Duty::CheckSession, Duty::Ping]);
        assert_eq!(all_due(&mut s, t0 + 109 * S), [Duty::CheckSession, Duty::Ping]);
        assert_eq!(all_due(&mut s, t0 + 110 * S), [Duty::Expire]);
    }

    #[test]
    fn once_closing_only_the_grace_counts() {
        let t0 = Instant::now();
        let mut s = schedule(t0);
        s.closing(t0 + 19 * S, 2 * S);
        assert_eq!(s.next(), t0 + 21 * S);
        assert_eq!(all_due(&mut s, t0 + 20 * S), [], "no ping while closing");
        s.heard(t0 + 20 * S);
        assert_eq!(
            all_due(&mut s, t0 + 21 * S),
            [Duty::Expire],
            "hearing does not extend the grace"
        );
    }
}
