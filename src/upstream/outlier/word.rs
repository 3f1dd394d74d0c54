//! The packed state of one target: mode, probe counters, ejection
//! multiplier and a deadline in one `u64`, so that each transition of the
//! outlier state machine is one compare-exchange.
//!
//! Owns: the bit layout and the deadline's resolution. Must never: let a
//! deadline come early (it rounds up to the next tick).

/// Deadlines are kept in ticks of 2^20 ns (about 1 ms), 40 bits of them.
pub(super) const TICK_SHIFT: u32 = 20;
const TICK_MASK: u64 = (1 << 40) - 1;
/// Probe slots fit in 7 bits.
pub(super) const MAX_PROBES: u32 = 127;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Active,
    Ejected,
    HalfOpen,
}

/// The unpacked `Target::word`. `tick` is the ejection's end (`Ejected`),
/// the probe lease's end (`HalfOpen`), or when the target last returned
/// (`Active`, for the multiplier's decay). `n` is the ejection multiplier.
#[derive(Clone, Copy, Debug)]
pub(super) struct Word {
    pub(super) mode: Mode,
    pub(super) out: u8,
    pub(super) ok: u8,
    pub(super) n: u8,
    pub(super) tick: u64,
}

impl Word {
    pub(super) fn unpack(w: u64) -> Word {
        Word {
            mode: match w & 3 {
                0 => Mode::Active,
                1 => Mode::Ejected,
                _ => Mode::HalfOpen,
            },
            out: ((w >> 2) & 0x7f) as u8,
            ok: ((w >> 9) & 0x7f) as u8,
            n: (w >> 16) as u8,
            tick: w >> 24,
        }
    }

    pub(super) fn pack(self) -> u64 {
        let mode = match self.mode {
            Mode::Active => 0,
            Mode::Ejected => 1,
            Mode::HalfOpen => 2,
        };
        mode | ((u64::from(self.out) & 0x7f) << 2)
            | ((u64::from(self.ok) & 0x7f) << 9)
            | (u64::from(self.n) << 16)
            | ((self.tick & TICK_MASK) << 24)
    }
}

/// The first tick at or after `ns`, so a deadline never comes early.
pub(super) fn tick_at(ns: u64) -> u64 {
    ns.div_ceil(1 << TICK_SHIFT)
}

/// Whether the deadline `tick` has come at `now`.
pub(super) fn passed(now: u64, tick: u64) -> bool {
    now >> TICK_SHIFT >= tick
}
