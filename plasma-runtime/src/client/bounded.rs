//! A bounded single-consumer queue for what the client hands the app (events,
//! live diffs): a subscriber that stops polling costs at most `capacity`
//! items, and what happens on overflow is the sender's choice — drop the
//! oldest and count them (events), or end the stream (live diffs).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_util::Stream;

struct Inner<T> {
    items: VecDeque<T>,
    /// Items dropped (oldest first) since the receiver last saw the count.
    missed: u64,
    waker: Option<Waker>,
    /// No more items will come: the stream ends once `items` is drained.
    closed: bool,
    /// The receiver was dropped.
    gone: bool,
}

struct Queue<T> {
    inner: Mutex<Inner<T>>,
    capacity: usize,
}

impl<T> Queue<T> {
    /// Nothing here panics while the lock is held, so a poisoned lock
    /// still holds a whole queue.
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What became of a pushed item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued (possibly after dropping the oldest item, counted as missed).
    Queued,
    /// The queue was full: the stream now ends after the items it holds.
    Closed,
    /// The receiver is gone (or the queue closed): forget this sender.
    Gone,
}

/// The sending side.
pub(crate) struct Sender<T> {
    queue: Arc<Queue<T>>,
}

/// The receiving side: a [`Stream`] of items, or of the count of items
/// dropped before the next one (`Err(missed)`).
pub(crate) struct Receiver<T> {
    queue: Arc<Queue<T>>,
}

/// A queue holding at most `capacity` (at least 1) items.
pub(crate) fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let queue = Arc::new(Queue {
        inner: Mutex::new(Inner { items: VecDeque::new(), missed: 0, waker: None, closed: false, gone: false }),
        capacity: capacity.max(1),
    });
    (Sender { queue: Arc::clone(&queue) }, Receiver { queue })
}

impl<T> Sender<T> {
    /// Queues `item`; when full, drops the oldest item and counts it missed.
    pub(crate) fn push_dropping_oldest(&self, item: T) -> Pushed {
        let mut inner = self.queue.lock();
        if inner.gone || inner.closed {
            return Pushed::Gone;
        }
        if inner.items.len() >= self.queue.capacity {
            inner.items.pop_front();
            inner.missed += 1;
        }
        inner.items.push_back(item);
        wake(&mut inner);
        Pushed::Queued
    }

    /// Queues `item`; when full, closes the queue instead (the receiver gets
    /// what it holds, then the end).
    pub(crate) fn push_or_close(&self, item: T) -> Pushed {
        let mut inner = self.queue.lock();
        if inner.gone || inner.closed {
            return Pushed::Gone;
        }
        if inner.items.len() >= self.queue.capacity {
            inner.closed = true;
            wake(&mut inner);
            return Pushed::Closed;
        }
        inner.items.push_back(item);
        wake(&mut inner);
        Pushed::Queued
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut inner = self.queue.lock();
        inner.closed = true;
        wake(&mut inner);
    }
}

fn wake<T>(inner: &mut Inner<T>) {
    if let Some(waker) = inner.waker.take() {
        waker.wake();
    }
}

impl<T> Stream for Receiver<T> {
    type Item = Result<T, u64>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut inner = self.queue.lock();
        if inner.missed > 0 {
            let missed = std::mem::take(&mut inner.missed);
            return Poll::Ready(Some(Err(missed)));
        }
        if let Some(item) = inner.items.pop_front() {
            return Poll::Ready(Some(Ok(item)));
        }
        if inner.closed {
            return Poll::Ready(None);
        }
        inner.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut inner = self.queue.lock();
        inner.gone = true;
        inner.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;
    use futures_util::StreamExt;

    use super::*;

    fn drain<T>(rx: &mut Receiver<T>) -> Vec<Result<T, u64>> {
        std::iter::from_fn(|| rx.next().now_or_never().flatten()).collect()
    }

    #[test]
    fn dropping_oldest_counts_what_was_missed_before_what_is_left() {
        let (tx, mut rx) = bounded(3);
        for i in 0..5 {
            assert_eq!(tx.push_dropping_oldest(i), Pushed::Queued);
        }
        assert_eq!(drain(&mut rx), [Err(2), Ok(2), Ok(3), Ok(4)]);
        drop(tx);
        assert_eq!(rx.next().now_or_never(), Some(None), "ends when the sender drops");
    }

    #[test]
    fn closing_on_overflow_delivers_what_it_holds_then_ends() {
        let (tx, mut rx) = bounded(2);
        assert_eq!(tx.push_or_close(1), Pushed::Queued);
        assert_eq!(tx.push_or_close(2), Pushed::Queued);
        assert_eq!(tx.push_or_close(3), Pushed::Closed);
        assert_eq!(tx.push_or_close(4), Pushed::Gone);
        assert_eq!(drain(&mut rx), [Ok(1), Ok(2)]);
        assert_eq!(rx.next().now_or_never(), Some(None));
    }

    #[test]
    fn a_dropped_receiver_is_reported_gone() {
        let (tx, rx) = bounded(2);
        drop(rx);
        assert_eq!(tx.push_dropping_oldest(1), Pushed::Gone);
    }
}
