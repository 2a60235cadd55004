//! A small fixed thread pool for splitting one kernel call into parallel tasks.
//!
//! A [`Pool`] of `n` threads runs `f(0)` on the caller and `f(1)..f(n-1)` on its `n - 1`
//! workers, and returns when all are done. It exists so that each parallel kernel call
//! costs a wake-up, not a thread spawn.
//!
//! Waiting spins first, then parks: a model's kernels run back to back, often for tens of
//! microseconds each, and waking a parked thread through the kernel costs about as much
//! (more in a VM). So workers spin on the job counter, and the caller on the count of
//! unfinished tasks, for up to [`SPIN`] before falling back to a condition variable.
//! Between inferences a worker therefore burns at most that long before it sleeps.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a waiting thread spins before it parks.
const SPIN: Duration = Duration::from_micros(300);

/// The task function of the current call. It borrows from the caller's stack; the caller
/// blocks in [`Pool::run`] until every worker has finished with it.
#[derive(Clone, Copy)]
struct Job(*const (dyn Fn(usize) + Sync));

// SAFETY: the pointee is `Sync` and outlives its use (see `Pool::run`).
unsafe impl Send for Job {}

#[derive(Default)]
struct Shared {
    /// The current job; written under the lock before `generation` moves.
    job: Mutex<Option<Job>>,
    /// Incremented (under the `job` lock) for each job, so workers never run one twice.
    generation: AtomicU64,
    /// Tasks of the current job that have not finished.
    pending: AtomicUsize,
    shutdown: AtomicBool,
    work: Condvar,
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Option<Job>> {
        // A worker panicking inside a kernel is not recoverable anyway; keep going with
        // the state as it is rather than poisoning every later run.
        self.job.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Spins until `ready()` or [`SPIN`] has passed; true when ready.
fn spin_until(ready: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() > SPIN {
            return ready();
        }
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
        let sh = &*self.shared;
        {
            let mut slot = sh.lock();
            *slot = Some(job);
            sh.pending.store(self.workers.len(), Ordering::SeqCst);
            sh.generation.fetch_add(1, Ordering::SeqCst);
        }
        sh.work.notify_all();
        f(0);
        if !spin_until(|| sh.pending.load(Ordering::Acquire) == 0) {
            let mut slot = sh.lock();
            while sh.pending.load(Ordering::Acquire) > 0 {
                slot = sh.done.wait(slot).unwrap_or_else(PoisonError::into_inner);
            }
        }
        *sh.lock() = None;
    }
}

fn worker(sh: &Shared, task: usize) {
    let mut seen = 0u64;
    loop {
        let fresh =
            || sh.generation.load(Ordering::Acquire) != seen || sh.shutdown.load(Ordering::Acquire);
        if !spin_until(fresh) {
            let mut slot = sh.lock();
            while !fresh() {
                slot = sh.work.wait(slot).unwrap_or_else(PoisonError::into_inner);
            }
        }
        if sh.shutdown.load(Ordering::Acquire) {
            return;
        }
        let job = {
            let slot = sh.lock();
            seen = sh.generation.load(Ordering::Acquire);
            *slot
        };
        if let Some(Job(f)) = job {
            // SAFETY: see `Pool::run`: the caller keeps `f` alive until `pending` is 0.
            unsafe { (*f)(task) };
        }
        if sh.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Under the lock, so a caller between its check and its wait cannot miss it.
            let _slot = sh.lock();
            sh.done.notify_all();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        {
            let _slot = self.shared.lock();
            self.shared.shutdown.store(true, Ordering::SeqCst);
        }
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
