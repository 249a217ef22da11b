//! Statistics counters bumped on every resolve without an atomic read-modify-write.
//!
//! An uncontended `fetch_add` still costs a locked instruction (about as much as the rest of a
//! bounded-staleness resolve's hash lookup). Here each live thread owns one slot of every
//! counter: it bumps it with a plain load and store, which cannot lose an update because no
//! other thread writes that slot. A thread's slot index is returned when it exits and handed to
//! a later thread under a mutex, which orders the old owner's last store before the new
//! owner's first load. Threads beyond [`SLOTS`] share one `fetch_add` counter.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

/// Slots per counter (threads with their own slot at one time).
const SLOTS: usize = 64;

/// One cache line per slot, so threads do not write the same line.
#[repr(align(64))]
#[derive(Default)]
struct Slot(AtomicU64);

/// Slot indices handed back by threads that exited, and the next never-used index.
static FREE: Mutex<(Vec<usize>, usize)> = Mutex::new((Vec::new(), 0));

/// This thread's slot index; released when the thread exits.
struct Owner(Cell<Option<usize>>);

impl Owner {
    fn acquire() -> Owner {
        let mut free = FREE.lock();
        let index = match free.0.pop() {
            Some(i) => Some(i),
            None if free.1 < SLOTS => {
                free.1 += 1;
                Some(free.1 - 1)
            }
            None => None,
        };
        Owner(Cell::new(index))
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(i) = self.0.take() {
            FREE.lock().0.push(i);
        }
    }
}

thread_local! {
    static OWNER: Owner = Owner::acquire();
}

/// A monotonically increasing count, summed over the slots when read.
pub(crate) struct Counter {
    slots: Box<[Slot]>,
    shared: AtomicU64,
}

impl Default for Counter {
    fn default() -> Self {
        Counter {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            shared: AtomicU64::new(0),
        }
    }
}

impl Counter {
    /// Adds one.
    pub(crate) fn bump(&self) {
        // `try_with`: a thread that is exiting has no slot any more.
        match OWNER.try_with(|o| o.0.get()).ok().flatten() {
            Some(i) => {
                let slot = &self.slots[i].0;
                slot.store(slot.load(Relaxed) + 1, Relaxed);
            }
            None => {
                self.shared.fetch_add(1, Relaxed);
            }
        }
    }

    /// The total so far (bumps racing with the read may or may not be in it).
    pub(crate) fn get(&self) -> u64 {
        self.slots.iter().map(|s| s.0.load(Relaxed)).sum::<u64>() + self.shared.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn bumps_from_many_threads_are_never_lost() {
        let counter = Arc::new(Counter::default());
        // More threads than slots, in waves, so slots are reused and the shared counter is hit.
        for _ in 0..3 {
            let handles: Vec<_> = (0..SLOTS + 8)
                .map(|_| {
                    let c = Arc::clone(&counter);
                    std::thread::spawn(move || {
                        for _ in 0..1000 {
                            c.bump();
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        }
        assert_eq!(counter.get(), 3 * (SLOTS as u64 + 8) * 1000);
    }

    #[test]
    fn a_counter_starts_at_zero_and_counts_this_threads_bumps() {
        let counter = Counter::default();
        assert_eq!(counter.get(), 0);
        counter.bump();
        counter.bump();
        assert_eq!(counter.get(), 2);
    }
}
