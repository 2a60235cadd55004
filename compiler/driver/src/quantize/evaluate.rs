//! Running a graph on the calibration samples, for calibration (the float graph with
//! every observed value as an extra output) and for the accuracy checks (the QDQ graph).
//!
//! By default the graph is compiled for this machine's CPU (its best single-level
//! target, [`host_target`]) and run by `neoc-runtime` in-process, one sample per core at
//! a time. That is the code that ships (for the host's level): the int8 check runs the
//! int8 kernels themselves, and it is 2–3 orders of magnitude faster than the reference
//! interpreter (`neoc_ir::interp`, f64 reference kernels), which stays as the fallback
//! where native code cannot run here (no target of this architecture runs on this CPU,
//! or compilation fails: the report says why) and for tests that ask for it
//! (`--calibration-engine interpreter`).

use super::Engine;
use crate::DriverError;
use neoc_ir::{interp, Graph, Tensor};
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A graph ready to run on samples.
pub(super) struct Runner {
    how: How,
    threads: usize,
    /// What runs the graph, for the report.
    pub(super) description: String,
    /// Time spent compiling (zero for the interpreter).
    pub(super) compile_time: Duration,
}

enum How {
    Compiled(Box<neoc_runtime::Model>),
    Interpreter(Graph),
}

/// The best single-level target whose code runs on this CPU: for x86-64 the VNNI
/// levels first (the int8 kernels' dot product), then AVX-512, AVX2. `None` when no
/// target of this architecture runs here (or the runtime does not run this
/// architecture).
pub fn host_target() -> Option<&'static str> {
    let candidates: &[&'static str] = if cfg!(target_arch = "x86_64") {
        &[
            "x86_64-avx512-vnni",
            "x86_64-avx512",
            "x86_64-avx2-vnni",
            "x86_64-avx2",
        ]
    } else if cfg!(target_arch = "aarch64") {
        &["aarch64-neoverse-n1", "aarch64"]
    } else {
        &[]
    };
    let have = neoc_runtime::host_cpu_features();
    candidates.iter().copied().find(|name| {
        neoc_target_spec::lookup(name).is_ok_and(|t| {
            t.levels
                .iter()
                .all(|l| l.required_features.iter().all(|f| have.contains(f)))
        })
    })
}

fn compile(graph: &Graph) -> Result<(neoc_runtime::Model, &'static str), DriverError> {
    let target = host_target().ok_or_else(|| {
        DriverError::Usage("no compiled target of this architecture runs on this CPU".into())
    })?;
    let opts = crate::CompileOptions {
        target: target.into(),
        ..crate::CompileOptions::default()
    };
    let (artifact, _) = crate::compile_graph(graph.clone(), &graph.name, &opts)?;
    let model = neoc_runtime::Model::from_bytes(artifact.to_bytes())
        .map_err(|e| DriverError::Internal(format!("loading the host build: {e}")))?;
    Ok((model, target))
}

impl Runner {
    /// `graph` ready to run with `engine` (`why`: why the interpreter, when `engine`
    /// asks for it). `qdq`: the graph holds QDQ pairs for the `int8-qdq` pass (the
    /// interpreter runs it after that pass, i.e. with the int8 op's reference
    /// semantics; the compiled path runs every pass anyway).
    pub(super) fn new(
        graph: &Graph,
        engine: Engine,
        why: &str,
        qdq: bool,
    ) -> Result<Runner, DriverError> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let t = Instant::now();
        let why = match engine {
            Engine::Interpreter => why.to_string(),
            Engine::Auto | Engine::Compiled => match compile(graph) {
                Ok((model, target)) => {
                    return Ok(Runner {
                        how: How::Compiled(Box::new(model)),
                        threads,
                        description: format!("code compiled for {target}"),
                        compile_time: t.elapsed(),
                    })
                }
                Err(e) if engine == Engine::Compiled => return Err(e),
                Err(e) => format!("native code is not available: {e}"),
            },
        };
        let mut g = graph.clone();
        if qdq {
            neoc_passes::optimize(&mut g, 1, &[])
                .map_err(|e| DriverError::Internal(e.to_string()))?;
        }
        Ok(Runner {
            how: How::Interpreter(g),
            threads,
            description: format!("the reference interpreter ({why})"),
            compile_time: Duration::ZERO,
        })
    }

    pub(super) fn threads(&self) -> usize {
        self.threads
    }

    /// Runs every sample, `threads` at a time; each worker folds the outputs of the
    /// samples it ran (as f32 values, with the sample's index) into its own state made
    /// by `init`. Returns the workers' states.
    pub(super) fn fold<S: Send>(
        &self,
        samples: &[Vec<Tensor>],
        init: impl Fn() -> S + Sync,
        f: impl Fn(&mut S, usize, &[Cow<'_, [f32]>]) + Sync,
    ) -> Result<Vec<S>, DriverError> {
        let next = AtomicUsize::new(0);
        let failed: Mutex<Option<DriverError>> = Mutex::new(None);
        let workers = self.threads.min(samples.len()).max(1);
        let worker = || -> Result<S, DriverError> {
            let mut state = init();
            let mut ctx = match &self.how {
                How::Compiled(m) => Some(m.new_context().map_err(run_error)?),
                How::Interpreter(_) => None,
            };
            // Output buffers reused across runs (with every observed value an output,
            // fresh ones would be tens of MB of page faults per sample).
            let mut bufs: Vec<neoc_runtime::Tensor> = match &self.how {
                How::Compiled(m) => m
                    .outputs()
                    .iter()
                    .map(|s| neoc_runtime::Tensor::zeros(s.dtype, s.shape.clone()))
                    .collect::<Result<_, _>>()
                    .map_err(run_error)?,
                How::Interpreter(_) => Vec::new(),
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= samples.len() || failed.lock().is_ok_and(|f| f.is_some()) {
                    return Ok(state);
                }
                match (&self.how, ctx.as_mut()) {
                    (How::Compiled(model), Some(ctx)) => {
                        let ins: Vec<neoc_runtime::TensorRef<'_>> = samples[i]
                            .iter()
                            .map(|t| {
                                neoc_runtime::TensorRef::new(
                                    crate::plan::artifact_dtype(t.dtype),
                                    &t.shape,
                                    t.bytes(),
                                )
                            })
                            .collect();
                        let mut outs: Vec<neoc_runtime::TensorMut<'_>> =
                            bufs.iter_mut().map(neoc_runtime::TensorMut::from).collect();
                        ctx.run_into(model, &ins, &mut outs).map_err(run_error)?;
                        drop(outs);
                        let vals: Vec<Cow<'_, [f32]>> = bufs
                            .iter()
                            .map(|o| match o.as_f32() {
                                Some(v) => Cow::Borrowed(v),
                                None => Cow::Owned(runtime_to_f32(o)),
                            })
                            .collect();
                        f(&mut state, i, &vals);
                    }
                    (How::Interpreter(g), _) => {
                        let outs = interp::run(g, &samples[i]).map_err(|e| {
                            DriverError::Usage(format!("calibration run failed: {e}"))
                        })?;
                        let vals: Vec<Cow<'_, [f32]>> =
                            outs.iter().map(|t| Cow::Owned(t.to_f32_vec())).collect();
                        f(&mut state, i, &vals);
                    }
                    (How::Compiled(_), None) => return Ok(state),
                }
            }
        };
        let states: Vec<S> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| match worker() {
                        Ok(state) => Some(state),
                        Err(e) => {
                            if let Ok(mut f) = failed.lock() {
                                f.get_or_insert(e);
                            }
                            None
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().ok().flatten())
                .collect()
        });
        if let Some(e) = failed.into_inner().ok().flatten() {
            return Err(e);
        }
        if states.len() != workers {
            return Err(DriverError::Internal(
                "a calibration worker panicked".into(),
            ));
        }
        Ok(states)
    }
}

fn run_error(e: neoc_runtime::RuntimeError) -> DriverError {
    DriverError::Internal(format!(
        "running the host build on a calibration sample: {e}"
    ))
}

/// A non-f32 runtime output as f32 values (through the IR tensor's conversion).
fn runtime_to_f32(o: &neoc_runtime::Tensor) -> Vec<f32> {
    Tensor::from_bytes(
        crate::ir_dtype(o.dtype()),
        o.shape().to_vec(),
        bytes::Bytes::copy_from_slice(o.as_bytes()),
    )
    .map(|t| t.to_f32_vec())
    .unwrap_or_default()
}
