//! Execution contexts for runs from several Python threads at once.
//!
//! A runtime `Context` serves one run at a time. The pool hands each run an idle context,
//! or makes a new one when all are busy, and takes it back afterwards, so concurrent
//! `Model.run` calls (the GIL is released while they run) truly run in parallel, and a
//! thread running in a loop reuses one arena instead of allocating a fresh one per run.
//! The pool keeps every context it made: their number is the most runs that were ever in
//! flight at once.

use std::sync::{Mutex, PoisonError};

use neoc_runtime::{Context, Model, Result};

#[derive(Debug)]
pub struct ContextPool {
    idle: Mutex<Vec<Context>>,
    /// Worker threads per context (`Model::new_context_with_threads`; 0 = one per CPU).
    threads: usize,
}

impl ContextPool {
    pub fn new(threads: usize) -> Self {
        ContextPool {
            idle: Mutex::new(Vec::new()),
            threads,
        }
    }

    /// An idle context, or a new one for `model`.
    pub fn take(&self, model: &Model) -> Result<Context> {
        // A poisoned lock only means a thread panicked while pushing or popping; the
        // vector itself is intact.
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(ctx) => Ok(ctx),
            None => model.new_context_with_threads(self.threads),
        }
    }

    /// Returns a context after a run (a context whose run panicked is dropped instead).
    pub fn give_back(&self, ctx: Context) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ctx);
    }

    /// How many contexts are idle now.
    pub fn idle(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
