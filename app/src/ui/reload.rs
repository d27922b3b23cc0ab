//! Reads that live events ask for, coalesced. A view showing a job's tree reads the job again when
//! one of its steps changes; a plug-in reporting progress fifty times a second made an open page
//! read its 2,000-step job 29 times a second (18 MB a second, and a core of the server). Now at most
//! one read is in flight and the next begins no sooner than [`GAP_MS`] after the last began: the
//! first change after a quiet spell is read at once, a burst makes one read at its start and one
//! after it, and the last change is always read.

use leptos::prelude::*;

/// The least time between the starts of two reads, in milliseconds.
pub const GAP_MS: i64 = 300;
/// A read not answered after this long no longer holds the next one back (its answer was dropped).
const LOST_MS: i64 = 10_000;

/// What the caller does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Start a read now.
    Read,
    /// Call [`Coalescer::waited`] after this many milliseconds.
    Wait(i64),
    /// Nothing: a read or a wait already under way will cover it.
    Nothing,
}

/// The bookkeeping alone, with the clock passed in (milliseconds), so it can be tested.
#[derive(Debug, Default)]
pub struct Coalescer {
    /// When the read in flight began.
    in_flight: Option<i64>,
    /// When the last read began.
    last_start: Option<i64>,
    /// A change came that no read begun since covers.
    wanted: bool,
    /// A wait is under way.
    waiting: bool,
}

impl Coalescer {
    /// A change asks for a fresh read.
    pub fn ask(&mut self, now: i64) -> Next {
        self.wanted = true;
        if self.waiting || self.in_flight.is_some_and(|t| now - t < LOST_MS) {
            return Next::Nothing;
        }
        match self.last_start {
            Some(t) if now - t < GAP_MS => {
                self.waiting = true;
                Next::Wait(GAP_MS - (now - t))
            }
            _ => {
                self.wanted = false;
                self.in_flight = Some(now);
                self.last_start = Some(now);
                Next::Read
            }
        }
    }

    /// The wait [`Next::Wait`] asked for is over.
    pub fn waited(&mut self, now: i64) -> Next {
        self.waiting = false;
        self.again(now)
    }

    /// A read's answer came (whatever it was).
    pub fn answered(&mut self, now: i64) -> Next {
        self.in_flight = None;
        self.again(now)
    }

    fn again(&mut self, now: i64) -> Next {
        if self.wanted && !self.waiting {
            self.ask(now)
        } else {
            Next::Nothing
        }
    }
}

/// [`Coalescer`] on the page's clock and timers: a resource reads [`Reloads::track`], calls
/// [`Reloads::answered`] when its read is done, and changes call [`Reloads::ask`].
#[derive(Clone, Copy)]
pub struct Reloads {
    count: RwSignal<u32>,
    state: StoredValue<Coalescer>,
}

impl Reloads {
    pub fn new() -> Reloads {
        Reloads {
            count: RwSignal::new(0),
            state: StoredValue::new(Coalescer::default()),
        }
    }

    /// Subscribes the calling resource: it runs again for each read this lets begin.
    pub fn track(self) {
        self.count.track();
    }

    pub fn ask(self) {
        self.act(self.state.try_update_value(|s| s.ask(now())));
    }

    pub fn answered(self) {
        self.act(self.state.try_update_value(|s| s.answered(now())));
    }

    fn act(self, next: Option<Next>) {
        match next {
            Some(Next::Read) => {
                self.count.try_update(|n| *n = n.wrapping_add(1));
            }
            Some(Next::Wait(ms)) => set_timeout(
                move || self.act(self.state.try_update_value(|s| s.waited(now()))),
                std::time::Duration::from_millis(ms.max(0) as u64),
            ),
            Some(Next::Nothing) | None => {}
        }
    }
}

impl Default for Reloads {
    fn default() -> Self {
        Reloads::new()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_change_after_a_quiet_spell_is_read_at_once() {
        let mut c = Coalescer::default();
        assert_eq!(c.ask(0), Next::Read);
        assert_eq!(c.answered(20), Next::Nothing);
        assert_eq!(c.ask(5_000), Next::Read);
    }

    #[test]
    fn changes_during_a_read_make_one_more_read_after_it() {
        let mut c = Coalescer::default();
        assert_eq!(c.ask(0), Next::Read);
        for t in 1..100 {
            assert_eq!(c.ask(t), Next::Nothing);
        }
        // Answered after the gap: the next read begins at once.
        assert_eq!(c.answered(400), Next::Read);
        assert_eq!(c.answered(450), Next::Nothing);
    }

    #[test]
    fn reads_are_a_gap_apart_and_the_last_change_is_read() {
        let mut c = Coalescer::default();
        assert_eq!(c.ask(0), Next::Read);
        assert_eq!(c.answered(50), Next::Nothing);
        // A change soon after: waits out the gap; more changes meanwhile add nothing.
        assert_eq!(c.ask(100), Next::Wait(GAP_MS - 100));
        assert_eq!(c.ask(150), Next::Nothing);
        assert_eq!(c.ask(299), Next::Nothing);
        assert_eq!(c.waited(300), Next::Read);
        // Answered with nothing new: quiet.
        assert_eq!(c.answered(350), Next::Nothing);
    }

    #[test]
    fn a_burst_of_events_makes_a_few_reads_not_one_each() {
        let mut c = Coalescer::default();
        let (mut reads, mut wait_until, mut answer_at) = (0, None::<i64>, None::<i64>);
        // 1,000 changes over 10 s, each read answered 100 ms after it begins.
        for t in 0..=10_500 {
            let mut nexts = Vec::new();
            if answer_at == Some(t) {
                answer_at = None;
                nexts.push(c.answered(t));
            }
            if wait_until == Some(t) {
                wait_until = None;
                nexts.push(c.waited(t));
            }
            if t % 10 == 0 && t <= 10_000 {
                nexts.push(c.ask(t));
            }
            for next in nexts {
                match next {
                    Next::Read => {
                        reads += 1;
                        answer_at = Some(t + 100);
                    }
                    Next::Wait(ms) => wait_until = Some(t + ms),
                    Next::Nothing => {}
                }
            }
        }
        // One read each GAP_MS, and the last change (at 10 s) read after it came.
        assert!(
            (30..=36).contains(&reads),
            "{reads} reads for 1,000 changes"
        );
        assert!(!c.wanted && !c.waiting && c.in_flight.is_none());
        assert!(c.last_start.unwrap() >= 10_000);
    }

    #[test]
    fn a_read_whose_answer_never_came_holds_nothing_back_for_long() {
        let mut c = Coalescer::default();
        assert_eq!(c.ask(0), Next::Read);
        assert_eq!(c.ask(1_000), Next::Nothing);
        assert_eq!(c.ask(LOST_MS + 1), Next::Read);
    }
}
