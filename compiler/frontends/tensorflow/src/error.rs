//! Errors of the TensorFlow frontend. Every message names the model file (a `.pb`, a
//! SavedModel's `saved_model.pb`, or a bundle file) and, where there is one, the
//! node, function or checkpoint key, so a CLI can print it as is.

use neoc_ir::IrError;
use std::fmt;

/// An error importing a TensorFlow model.
#[derive(Debug, thiserror::Error)]
pub enum TfError {
    /// Bad input: a file could not be read (missing, unreadable).
    #[error("cannot read {file}: {}", neoc_ir::error::io_reason(source))]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Bad input: the file is not a GraphDef / SavedModel protobuf (corrupt, truncated,
    /// or another format).
    #[error("{file}: {message}")]
    Decode { file: String, message: String },
    /// Bad input: the variables bundle is malformed, truncated or inconsistent.
    #[error("{file}: {message}")]
    Bundle { file: String, message: String },
    /// Bad input: the graph is not what a model needs: a missing signature, node,
    /// function or variable, a cycle, a malformed tensor reference.
    #[error("{file}: {message}")]
    Model { file: String, message: String },
    /// Bad input: operators without a mapping, all of them at once.
    #[error("{file}: {} unsupported operator{}: {}", ops.len(), if ops.len() == 1 { "" } else { "s" }, neoc_ir::error::comma_list(ops))]
    UnsupportedOps {
        file: String,
        ops: Vec<UnsupportedOp>,
    },
    /// Bad input: a graph input's shape is unknown or inconsistent with an
    /// `--input-shape` override. `message` includes how to fix it.
    #[error("{file}: {message}")]
    InputShape {
        file: String,
        input: String,
        message: String,
    },
    /// Bad input (an inconsistent model, an unsupported attribute value) or, for
    /// [`IrError::Internal`], an internal bug: building one node failed.
    #[error(
        "{file}: node \"{node}\" ({op}){}: {}",
        in_function(function),
        ir_detail(source)
    )]
    Node {
        file: String,
        node: String,
        op: String,
        /// The function whose body holds the node (empty: the top-level graph).
        function: String,
        #[source]
        source: Box<IrError>,
    },
}

/// One unsupported operator and the nodes that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedOp {
    /// The TensorFlow op type (`Conv3D`).
    pub op: String,
    /// Nodes using it, in order (`function/node` inside functions).
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
pub type Result<T, E = TfError> = std::result::Result<T, E>;

fn in_function(f: &str) -> String {
    if f.is_empty() {
        String::new()
    } else {
        format!(" in function {f}")
    }
}

/// An IR error's message without the node prefix (the variant adds file, node, op).
fn ir_detail(e: &IrError) -> String {
    e.detail("attribute", "; give unknown input dims with --input-shape")
}
