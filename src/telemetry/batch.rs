//! Log lines batched per serving worker.
//!
//! Handing every request line to the writer thread on its own costs a channel message, a copy
//! and, when the writer sleeps, a wake-up (a futex call and a context switch): measured on the
//! proxied path, that was most of the request log's cost. A serving worker
//! ([`enable_on_this_thread`]) instead appends its lines to a buffer of its own and hands the
//! buffer over when it reaches [`BATCH_BYTES`], or on its next tick ([`flush_this_thread`],
//! every [`TICK`]), or when the thread ends. Other threads (startup, discovery, Redis) write
//! each line at once. Lines of one worker keep their order; a line waits at most one tick.

use std::cell::RefCell;
use std::io::{self, Write};
use std::time::Duration;

use tracing_appender::non_blocking::NonBlocking;

/// A worker's buffer is handed over when it holds this much.
pub const BATCH_BYTES: usize = 4096;

/// How often a serving worker hands over what it has buffered.
pub const TICK: Duration = Duration::from_millis(20);

struct Batch {
    out: NonBlocking,
    buf: Vec<u8>,
    lines: u64,
}

impl Batch {
    fn hand_over(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let dropped_before = self.out.error_counter().dropped_lines();
        let _ = self.out.write_all(&self.buf);
        // The writer counts a dropped batch as one line: count the rest of its lines.
        if self.out.error_counter().dropped_lines() > dropped_before && self.lines > 1 {
            crate::metrics::global().log_lines_dropped_in_batch(self.lines - 1);
        }
        self.buf.clear();
        self.lines = 0;
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.hand_over();
    }
}

thread_local! {
    static BATCH: RefCell<Option<Batch>> = const { RefCell::new(None) };
}

/// Batch the lines this thread writes to `out` from now on.
pub fn enable_on_this_thread(out: &NonBlocking) {
    BATCH.with(|b| {
        *b.borrow_mut() = Some(Batch {
            out: out.clone(),
            buf: Vec::with_capacity(BATCH_BYTES * 2),
            lines: 0,
        });
    });
}

/// Hand over what this thread has buffered (a worker's tick).
pub fn flush_this_thread() {
    BATCH.with(|b| {
        if let Ok(mut b) = b.try_borrow_mut() {
            if let Some(batch) = b.as_mut() {
                batch.hand_over();
            }
        }
    });
}

/// The main output's writer for one event: into this thread's batch when it has one.
pub struct LineWriter<'a> {
    pub(super) direct: &'a NonBlocking,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let batched = BATCH.with(|b| {
            let Ok(mut b) = b.try_borrow_mut() else {
                return false;
            };
            let Some(batch) = b.as_mut() else {
                return false;
            };
            batch.buf.extend_from_slice(line);
            batch.lines += 1;
            if batch.buf.len() >= BATCH_BYTES {
                batch.hand_over();
            }
            true
        });
        if !batched {
            self.direct.clone().write_all(line)?;
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(b.to_vec());
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn wait_for(sink: &Sink, bytes: usize) -> Vec<Vec<u8>> {
        for _ in 0..200 {
            let got = sink.0.lock().unwrap().clone();
            if got.iter().map(Vec::len).sum::<usize>() >= bytes {
                return got;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        sink.0.lock().unwrap().clone()
    }

    #[test]
    fn a_worker_hands_over_full_batches_in_order_and_the_rest_on_flush_or_exit() {
        let sink = Sink::default();
        let (out, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .finish(sink.clone());
        let line = |i: usize| format!("line {i:04} {}\n", "x".repeat(90));
        let total: usize = (0..100).map(|i| line(i).len()).sum();
        let out2 = out.clone();
        std::thread::spawn(move || {
            enable_on_this_thread(&out2);
            for i in 0..100 {
                LineWriter { direct: &out2 }
                    .write_all(line(i).as_bytes())
                    .unwrap();
            }
            // Not flushed: the thread's end hands over the rest.
        })
        .join()
        .unwrap();
        let got = wait_for(&sink, total);
        let text: Vec<u8> = got.concat();
        let expected: String = (0..100).map(line).collect();
        assert_eq!(String::from_utf8(text).unwrap(), expected);
        assert!(got.len() < 10, "{} writes for 100 lines", got.len());
        // A thread without a batch writes each line at once.
        LineWriter { direct: &out }.write_all(b"direct\n").unwrap();
        let got = wait_for(&sink, total + 7);
        assert_eq!(got.last().unwrap(), b"direct\n");
        // flush_this_thread hands over a partial batch.
        let out3 = out.clone();
        std::thread::spawn(move || {
            enable_on_this_thread(&out3);
            LineWriter { direct: &out3 }
                .write_all(b"partial\n")
                .unwrap();
            flush_this_thread();
        })
        .join()
        .unwrap();
        let got = wait_for(&sink, total + 7 + 8);
        assert_eq!(got.last().unwrap(), b"partial\n");
        drop(guard);
    }
}
