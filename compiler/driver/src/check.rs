//! `neoc check`: what a model needs that neoc cannot compile, all at once.
//!
//! A compile stops at the first problem; a user porting a model wants the whole gap in
//! one run. The check therefore collects at each stage instead of stopping:
//! 1. the frontend's registry check lists every operator without a mapping (with its
//!    opset and node names) before anything is built;
//! 2. when every operator maps, the model is imported and optimised (an import error
//!    names the node and stops the check: later nodes depend on it); the PyTorch,
//!    TensorFlow and MXNet frontends list all their unsupported operators in that error;
//! 3. every node of the optimised graph is lowered on its own, and each one that code
//!    generation refuses (an element type, an operator form) is collected.
//!
//! Machine code is not generated: lowering decides what compiles; LLVM compiles what
//! lowering produces.

use crate::frontend::{self, Framework};
use crate::{optimize, CompileOptions, DriverError};
use std::collections::BTreeMap;
use std::path::Path;

/// One operator neoc cannot compile, with every node that uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub op_type: String,
    /// `""` for the default ONNX domain.
    pub domain: String,
    /// The opset the model imports for the domain (0 when unknown, e.g. lowering).
    pub opset: i64,
    pub nodes: Vec<String>,
    /// Why (empty for operators without a mapping).
    pub reason: String,
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckReport {
    /// Every node imports and lowers; `nodes` is the model's node count, `ops` the
    /// number of operator types.
    Supported { nodes: usize, ops: usize },
    /// Operators without a mapping, or nodes code generation refuses.
    Gaps(Vec<Gap>),
    /// Import stopped at a node (the message names it); nothing after it was checked.
    Stopped(String),
}

impl CheckReport {
    pub fn is_supported(&self) -> bool {
        matches!(self, CheckReport::Supported { .. })
    }
}

/// Checks `path` against `opts` (target, input shapes, constant inputs, opt level).
/// `Err` is reserved for files that cannot be read as a model at all.
pub fn check(path: &Path, opts: &CompileOptions) -> Result<CheckReport, DriverError> {
    let target = neoc_target_spec::lookup(&opts.target)?;
    let framework = frontend::detect(path)?;
    // ONNX models are counted from the protobuf (it works for unsupported ones too);
    // the other frontends list their unsupported operators in their import error.
    let info = match framework {
        Framework::Onnx => Some(neoc_onnx::read_model_info(path)?),
        _ => None,
    };
    let mut graph = match frontend::import(path, &opts.input_shapes, &opts.constant_inputs) {
        Ok(g) => g,
        Err(DriverError::Onnx(neoc_onnx::OnnxError::UnsupportedOps { ops, .. })) => {
            let gaps = ops
                .into_iter()
                .map(|o| Gap {
                    op_type: o.op_type,
                    domain: o.domain,
                    opset: o.opset,
                    nodes: o.nodes,
                    reason: String::new(),
                })
                .collect();
            return Ok(CheckReport::Gaps(gaps));
        }
        Err(DriverError::UnknownFormat { file }) => {
            return Err(DriverError::UnknownFormat { file })
        }
        Err(e) => return Ok(CheckReport::Stopped(e.to_string())),
    };
    let source = path.display().to_string();
    if let Err(e) = optimize(&mut graph, &source, opts) {
        return Ok(CheckReport::Stopped(e.to_string()));
    }
    let unit = target
        .levels
        .first()
        .map(|l| neoc_kernel::VectorUnit {
            bits: l.vector_bits,
            registers: l.vector_registers,
            parallelism: l.parallel_iterations,
            signed_dot_bytes: l.signed_byte_dot(),
        })
        .unwrap_or_default();
    let mut by_op: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for n in graph.topo_order() {
        if let Err(e) = neoc_kernel::lower_node(&graph, n, "check", None, unit) {
            by_op.entry((e.op, e.message)).or_default().push(e.node);
        }
    }
    if by_op.is_empty() {
        let (nodes, ops) = match &info {
            Some(info) => (info.op_counts.values().sum(), info.op_counts.len()),
            None => {
                let names: std::collections::BTreeSet<&str> = graph
                    .topo_order()
                    .into_iter()
                    .map(|n| graph.node(n).op.name())
                    .collect();
                (graph.node_count(), names.len())
            }
        };
        return Ok(CheckReport::Supported { nodes, ops });
    }
    let gaps = by_op
        .into_iter()
        .map(|((op_type, reason), nodes)| Gap {
            op_type,
            domain: String::new(),
            opset: 0,
            nodes,
            reason,
        })
        .collect();
    Ok(CheckReport::Gaps(gaps))
}
