//! When the exporter sends: a batch goes out when it holds `MAX_BATCH`
//! spans or when its oldest span has waited `MAX_DELAY`, whichever first;
//! and how long the exporter sleeps between looks at the queue.
//!
//! The exporter polls the queue instead of blocking on it: a thread
//! blocked on a channel must be woken by the sender, which would cost the
//! shard a futex call per span. Owns: both rules, with the clock passed in
//! (`now`) so tests choose the time. Must never: read the clock itself or
//! hold more than `MAX_BATCH` spans.

use std::time::{Duration, Instant};

use super::span::SpanRecord;

/// Most spans in one export request.
pub const MAX_BATCH: usize = 512;
/// Longest a span waits in a batch before it is sent.
pub const MAX_DELAY: Duration = Duration::from_secs(1);

/// Sleep between looks at an empty queue.
pub const IDLE_POLL: Duration = Duration::from_millis(100);
/// Sleep after a look that found spans: the queue then holds a burst of
/// `QUEUE_CAPACITY` spans per 10 ms (200 000 a second).
pub const BUSY_POLL: Duration = Duration::from_millis(10);

/// How long to sleep after a look at the queue that took `took` spans,
/// with `batch` waiting at `now` (never past the batch's deadline).
pub fn sleep_after(took: usize, batch: &Batcher, now: Instant) -> Duration {
    let poll = if took == 0 { IDLE_POLL } else { BUSY_POLL };
    batch.wait(now).map_or(poll, |w| w.min(poll))
}

/// The spans waiting to be sent, and since when.
#[derive(Default)]
pub struct Batcher {
    spans: Vec<SpanRecord>,
    oldest: Option<Instant>,
}

impl Batcher {
    /// Adds `span`, received at `now`.
    pub fn push(&mut self, span: SpanRecord, now: Instant) {
        if self.spans.is_empty() {
            self.oldest = Some(now);
            self.spans.reserve_exact(MAX_BATCH);
        }
        self.spans.push(span);
    }

    /// Whether the batch should be sent at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.spans.len() >= MAX_BATCH || self.oldest.is_some_and(|t| now >= t + MAX_DELAY)
    }

    /// How long to wait for more spans before sending; `None` while empty
    /// (nothing is due until a span arrives).
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        self.oldest
            .map(|t| (t + MAX_DELAY).saturating_duration_since(now))
    }

    /// Number of spans waiting.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether no span is waiting.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Takes the batch, leaving this one empty.
    pub fn take(&mut self) -> Vec<SpanRecord> {
        self.oldest = None;
        std::mem::take(&mut self.spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::trace::TraceContext;

    fn span() -> SpanRecord {
        let ctx = TraceContext {
            trace_id: [1; 16],
            parent_id: None,
            span_id: [2; 8],
            sampled: true,
        };
        SpanRecord::server(&ctx, "GET", None, 0, 1, 200)
    }

    #[test]
    fn an_empty_batch_waits_for_ever_and_is_never_due() {
        let b = Batcher::default();
        let t0 = Instant::now();
        assert_eq!(b.wait(t0), None);
        assert!(!b.due(t0 + Duration::from_secs(3600)));
    }

    #[test]
    fn the_oldest_span_sets_the_deadline() {
        let t0 = Instant::now();
        let mut b = Batcher::default();
        b.push(span(), t0);
        b.push(span(), t0 + Duration::from_millis(900));
        assert_eq!(
            b.wait(t0 + Duration::from_millis(300)),
            Some(Duration::from_millis(700))
        );
        assert!(!b.due(t0 + Duration::from_millis(999)));
        assert!(b.due(t0 + MAX_DELAY));
        assert_eq!(b.wait(t0 + Duration::from_secs(5)), Some(Duration::ZERO));
        assert_eq!(b.take().len(), 2);
        assert!(b.is_empty());
        assert_eq!(b.wait(t0 + Duration::from_secs(5)), None);
        // The next batch's clock starts with its own first span.
        let t1 = t0 + Duration::from_secs(10);
        b.push(span(), t1);
        assert!(!b.due(t1 + Duration::from_millis(500)));
        assert!(b.due(t1 + MAX_DELAY));
    }

    #[test]
    fn sleeps_are_short_while_spans_arrive() {
        let t0 = Instant::now();
        let mut b = Batcher::default();
        assert_eq!(sleep_after(0, &b, t0), IDLE_POLL);
        assert_eq!(sleep_after(1, &b, t0), BUSY_POLL);
        // A batch about to be due cuts the sleep short.
        b.push(span(), t0);
        let late = t0 + MAX_DELAY - Duration::from_millis(4);
        assert_eq!(sleep_after(0, &b, late), Duration::from_millis(4));
        assert_eq!(sleep_after(0, &b, t0), IDLE_POLL);
        assert_eq!(sleep_after(0, &b, t0 + MAX_DELAY), Duration::ZERO);
    }

    #[test]
    fn a_full_batch_is_due_at_once() {
        let t0 = Instant::now();
        let mut b = Batcher::default();
        for _ in 0..MAX_BATCH - 1 {
            b.push(span(), t0);
        }
        assert!(!b.due(t0));
        b.push(span(), t0);
        assert!(b.due(t0));
        assert_eq!(b.len(), MAX_BATCH);
        assert_eq!(b.take().len(), MAX_BATCH);
    }
}
