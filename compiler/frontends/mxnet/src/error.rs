//! Errors of the MXNet frontend. Every message names the file (the symbol JSON or the
//! parameters file) and, where there is one, the node or parameter, so a CLI can print
//! it as is.

use neoc_ir::IrError;
use std::fmt;

/// An error importing an MXNet model.
#[derive(Debug, thiserror::Error)]
pub enum MxnetError {
    /// Bad input: a file could not be read (missing, unreadable).
    #[error("cannot read {file}: {}", neoc_ir::error::io_reason(source))]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Bad input: the symbol file is not MXNet's Symbol JSON, or its graph is
    /// malformed (dangling inputs, bad heads).
    #[error("{file}: {message}")]
    Symbol { file: String, message: String },
    /// Bad input: the parameters file is not an NDArray list, is truncated, or does not
    /// hold what the symbol needs.
    #[error("{file}: {message}")]
    Params { file: String, message: String },
    /// Bad input: operators without a mapping, all of them at once.
    #[error("{file}: {} unsupported operator{}: {}", ops.len(), if ops.len() == 1 { "" } else { "s" }, neoc_ir::error::comma_list(ops))]
    UnsupportedOps {
        file: String,
        ops: Vec<UnsupportedOp>,
    },
    /// Bad input: a graph input's shape is unknown or an `--input-shape` names no input.
    #[error("{file}: {message}")]
    InputShape {
        file: String,
        input: String,
        message: String,
    },
    /// Bad input (an inconsistent model, an unsupported attribute value) or, for
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

/// One unsupported operator and the nodes that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedOp {
    pub op: String,
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
pub type Result<T, E = MxnetError> = std::result::Result<T, E>;

/// An IR error's message without the node prefix (the variant adds file, node, op).
fn ir_detail(e: &IrError) -> String {
    e.detail("attribute", "")
}
