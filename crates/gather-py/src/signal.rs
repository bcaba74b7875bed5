//! How the engine's threads tell Python that something happened, without
//! ever taking the GIL: a byte in a pipe whose other end the event loop
//! watches (`loop.add_reader`), as asyncio's own self-pipe is watched.
//!
//! A byte is written only when Python has read the last one
//! ([`Signal::ack`]), so the pipe never fills and a write never blocks,
//! however many events come between two reads.

use std::io::{PipeReader, PipeWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pyo3::exceptions::PyRuntimeError;
use pyo3::PyResult;

pub struct Signal {
    /// The pipe's end the engine writes to.
    pipe: Mutex<PipeWriter>,
    /// A byte is in the pipe that Python has not acknowledged.
    signalled: AtomicBool,
}

impl Signal {
    /// A signal, and the pipe's end for the event loop to watch.
    pub fn new() -> PyResult<(Signal, PipeReader)> {
        let (reader, writer) = std::io::pipe()
            .map_err(|e| PyRuntimeError::new_err(format!("cannot make a pipe: {e}")))?;
        let signal = Signal {
            pipe: Mutex::new(writer),
            signalled: AtomicBool::new(false),
        };
        Ok((signal, reader))
    }

    /// Tells Python: a byte in the pipe, unless one is waiting unread.
    pub fn raise(&self) {
        // AcqRel pairs with `ack`'s Release: a byte written after Python
        // acknowledged the last is one it has not read.
        if !self.signalled.swap(true, Ordering::AcqRel) {
            // One byte into an empty pipe: it does not block. A reader gone
            // (the run or client over) is nobody to tell.
            let mut pipe = self.pipe.lock().unwrap_or_else(|e| e.into_inner());
            let _ = pipe.write_all(b"!");
        }
    }

    /// Python read the pipe: the next event writes to it again.
    pub fn ack(&self) {
        self.signalled.store(false, Ordering::Release);
    }
}
