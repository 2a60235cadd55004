//! Progress of a compilation, reported to whoever drives it (the CLI draws a status line).
//!
//! Compiling a large model takes seconds to minutes, mostly in code generation; a caller
//! that wants to show where it is passes a callback in [`crate::CompileOptions::progress`].
//! The driver calls it with `(stage, done, total)` when a stage starts (`done == 0`) and
//! as units of it finish; the last call of a stage has `done == total`. The callback is
//! `Send + Sync` and cheap to clone, so options stay `Clone` and shareable; by default
//! nothing is reported.

use std::fmt;
use std::sync::Arc;

/// A stage of the compile pipeline, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Reading the model file into a graph (units: the file).
    Import,
    /// The graph passes of the optimisation level (units: the pipeline).
    Passes,
    /// Lowering graph nodes to kernels and planning memory (units: graph nodes).
    Lowering,
    /// Generating and linking code, one variant per CPU level (units: variants).
    Codegen,
}

impl Stage {
    /// The stage's name as progress output shows it.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Import => "import",
            Stage::Passes => "passes",
            Stage::Lowering => "lowering",
            Stage::Codegen => "codegen",
        }
    }

    /// What the stage counts (`codegen 1/2 variants`).
    pub fn unit(self) -> &'static str {
        match self {
            Stage::Lowering => "nodes",
            Stage::Codegen => "variants",
            _ => "",
        }
    }
}

type Callback = dyn Fn(Stage, usize, usize) + Send + Sync;

/// An optional progress callback (see the module docs).
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<Callback>>);

impl Progress {
    /// Reports to `f(stage, done, total)`.
    pub fn new(f: impl Fn(Stage, usize, usize) + Send + Sync + 'static) -> Self {
        Progress(Some(Arc::new(f)))
    }

    /// Tells the callback, if any, that `done` of `total` units of `stage` are finished.
    pub fn report(&self, stage: Stage, done: usize, total: usize) {
        if let Some(f) = &self.0 {
            f(stage, done, total);
        }
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(callback)"
        } else {
            "Progress(none)"
        })
    }
}
