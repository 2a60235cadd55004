//! A small fixed thread pool for splitting one kernel call into parallel tasks.
//!
//! A [`Pool`] of `n` threads runs `f(0)` on the caller and `f(1)..f(n-1)` on its `n - 1`
//! workers, and returns when all are done. It exists so that each parallel kernel call
//! costs a wake-up, not a thread spawn. Workers park on a condition variable between
//! calls and exit when the pool is dropped.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// The task function of the current call. It borrows from the caller's stack; the caller
/// blocks in [`Pool::run`] until every worker has finished with it.
#[derive(Clone, Copy)]
struct Job(*const (dyn Fn(usize) + Sync));

// SAFETY: the pointee is `Sync` and outlives its use (see `Pool::run`).
unsafe impl Send for Job {}

#[derive(Default)]
struct State {
    job: Option<Job>,
    /// Tasks of the current job that have not finished.
    pending: usize,
    /// Incremented for each job so workers never run one twice.
    generation: u64,
    shutdown: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    work: Condvar,
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker panicking inside a kernel is not recoverable anyway; keep going with
        // the state as it is rather than poisoning every later run.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A pool of `threads` execution threads (the caller counts as one).
pub(crate) struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    /// A pool with `threads - 1` workers (`threads <= 1`: no workers, everything runs on
    /// the caller).
    pub fn new(threads: usize) -> Pool {
        let shared = Arc::new(Shared::default());
        let workers = (1..threads.max(1))
            .filter_map(|task| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("neoc-worker-{task}"))
                    .spawn(move || worker(&shared, task))
                    .ok()
            })
            .collect();
        Pool { shared, workers }
    }

    /// Number of tasks a call is split into.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `f(task)` for every `task` in `0..self.threads()`, concurrently, and returns
    /// when all have returned.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        if self.workers.is_empty() {
            f(0);
            return;
        }
        // SAFETY (lifetime erasure): `f` lives until this function returns, and it does
        // not return before `pending` is back to zero, i.e. before every worker is done
        // calling it; afterwards workers only look at the next job.
        let job = Job(unsafe {
            std::mem::transmute::<
                *const (dyn Fn(usize) + Sync + '_),
                *const (dyn Fn(usize) + Sync + 'static),
            >(f as *const _)
        });
        {
            let mut st = self.shared.lock();
            st.job = Some(job);
            st.pending = self.workers.len();
            st.generation = st.generation.wrapping_add(1);
        }
        self.shared.work.notify_all();
        f(0);
        let mut st = self.shared.lock();
        while st.pending > 0 {
            st = self
                .shared
                .done
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
        st.job = None;
    }
}

fn worker(shared: &Shared, task: usize) {
    let mut seen = 0u64;
    loop {
        let job = {
            let mut st = shared.lock();
            while !st.shutdown && (st.generation == seen || st.job.is_none()) {
                st = shared.work.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
            if st.shutdown {
                return;
            }
            seen = st.generation;
            st.job
        };
        if let Some(Job(f)) = job {
            // SAFETY: see `Pool::run`: the caller keeps `f` alive until `pending` is 0.
            unsafe { (*f)(task) };
        }
        let mut st = shared.lock();
        st.pending -= 1;
        if st.pending == 0 {
            shared.done.notify_all();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pool({} threads)", self.threads())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_task_runs_once_per_call() {
        let pool = Pool::new(4);
        let hits: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..1000 {
            pool.run(&|t| {
                hits[t].fetch_add(1, Ordering::Relaxed);
            });
        }
        for h in &hits {
            assert_eq!(h.load(Ordering::Relaxed), 1000);
        }
    }

    #[test]
    fn single_thread_pool_runs_inline() {
        let pool = Pool::new(1);
        let n = AtomicUsize::new(0);
        pool.run(&|t| {
            assert_eq!(t, 0);
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 1);
    }
}
