//! Errors of the PyTorch frontend. Every message names the model file (the source name
//! given to the importer) and, where there is one, the archive entry, the graph node or
//! the TorchScript line, so a CLI can print it as is.

use neoc_ir::IrError;
use std::fmt;

/// An error importing a PyTorch model archive.
#[derive(Debug, thiserror::Error)]
pub enum PytorchError {
    /// Bad input: the model file could not be read.
    #[error("cannot read {file}: {}", neoc_ir::error::io_reason(source))]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Bad input: the file is not a readable zip archive of the layout torch writes, or
    /// an entry is missing, corrupt or too large.
    #[error("{file}: {message}")]
    Archive { file: String, message: String },
    /// Bad input: a pickle in the archive is malformed or truncated, uses an opcode
    /// neoc does not read, or exceeds a limit.
    #[error("{file}: {entry}: pickle error at byte {offset}: {message}")]
    Pickle {
        file: String,
        entry: String,
        offset: usize,
        message: String,
    },
    /// Bad input: a pickle names a global (a class or function) that a model archive
    /// does not need. Unpickling never runs code; it refuses instead.
    #[error(
        "{file}: {entry} references the global `{global}`, which is not one of the \
         classes a model archive uses (tensors, storages, ordered dicts, TorchScript \
         modules); neoc does not load it"
    )]
    UnsafeGlobal {
        file: String,
        entry: String,
        global: String,
    },
    /// Bad input: the torch.export program (JSON) is malformed or uses a form neoc does
    /// not read; or a TorchScript module tree is not what the code expects.
    #[error("{file}: {message}")]
    Program { file: String, message: String },
    /// Bad input: TorchScript code that does not parse, or uses a construct outside
    /// the supported subset (e.g. data-dependent control flow).
    #[error("{file}: {entry}:{line}: {message}")]
    Code {
        file: String,
        entry: String,
        line: usize,
        message: String,
    },
    /// Bad input: operators without a mapping, all of them at once.
    #[error("{file}: {} unsupported operator{}: {}", ops.len(), if ops.len() == 1 { "" } else { "s" }, neoc_ir::error::comma_list(ops))]
    UnsupportedOps {
        file: String,
        ops: Vec<UnsupportedOp>,
    },
    /// Bad input: a graph input's shape or dtype is unknown or inconsistent with an
    /// `--input-shape` override. `message` includes the hint of how to fix it.
    #[error("{file}: {message}")]
    InputShape {
        file: String,
        input: String,
        message: String,
    },
    /// Bad input (an inconsistent model, an unsupported argument value) or, for
    /// [`IrError::Internal`], an internal bug: building one node failed.
    #[error("{file}: node \"{node}\" ({op}): {}", ir_detail(source))]
    Node {
        file: String,
        node: String,
        op: String,
        #[source]
        source: Box<IrError>,
    },
}

/// One unsupported operator and where it is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedOp {
    /// The operator as the archive names it (`aten.unfold.default`, `torch.unfold`).
    pub op: String,
    /// Nodes (torch.export) or code locations (TorchScript) using it, in order.
    pub nodes: Vec<String>,
}

impl fmt::Display for UnsupportedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self
            .nodes
            .iter()
            .take(3)
            .map(|n| format!("\"{n}\""))
            .collect();
        let more = self.nodes.len().saturating_sub(shown.len());
        write!(f, "{} (at {}", self.op, shown.join(", "))?;
        if more > 0 {
            write!(f, " and {more} more")?;
        }
        f.write_str(")")
    }
}

/// Result alias of this crate.
pub type Result<T, E = PytorchError> = std::result::Result<T, E>;

/// An IR error's message without the node prefix (the variant adds file, node, op).
fn ir_detail(e: &IrError) -> String {
    e.detail("argument", "")
}
