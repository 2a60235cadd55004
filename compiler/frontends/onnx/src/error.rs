//! Errors of the ONNX frontend. Every message names the model file (the source name
//! given to the importer), so a CLI can print it as is.

use neoc_ir::IrError;
use std::fmt;

/// An error importing or inspecting an ONNX model.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// Bad input: the model file could not be read.
    #[error("cannot read {file}: {}", neoc_ir::error::io_reason(source))]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Bad input: the bytes are not a protobuf `ModelProto`.
    #[error(
        "{file} is not a valid ONNX model (protobuf decode failed: {message}); \
         the file may be truncated or not an ONNX file"
    )]
    Decode { file: String, message: String },
    /// Bad input: the model has no graph, or a graph without outputs.
    #[error("{file}: {message}")]
    EmptyGraph { file: String, message: String },
    /// Bad input: no opset of the default domain (`""` / `ai.onnx`) is imported.
    #[error("{file}: the model imports no opset of the default ONNX domain (ai.onnx), so its operators have no defined meaning")]
    MissingOpset { file: String },
    /// Bad input: the default-domain opset is outside the range this frontend knows.
    #[error("{file}: opset {version} is not supported (neoc imports ai.onnx opsets {min} to {max}); re-export the model with an opset in that range")]
    UnsupportedOpset {
        file: String,
        version: i64,
        min: i64,
        max: i64,
    },
    /// Bad input: operators without a mapping, all of them at once.
    #[error("{file}: {} unsupported operator{}: {}", ops.len(), if ops.len() == 1 { "" } else { "s" }, neoc_ir::error::comma_list(ops))]
    UnsupportedOps {
        file: String,
        ops: Vec<UnsupportedOp>,
    },
    /// Bad input: a graph input's shape is unknown, symbolic or inconsistent with an
    /// `--input-shape` override. `message` includes the hint of how to fix it.
    #[error("{file}: {message}")]
    InputShape {
        file: String,
        input: String,
        message: String,
    },
    /// Bad input: a node reads a value that no earlier node, input or initializer
    /// defines (ONNX requires nodes in topological order).
    #[error("{file}: node \"{node}\" ({op}) reads \"{value}\", which is not defined by any earlier node, graph input or initializer")]
    UndefinedValue {
        file: String,
        node: String,
        op: String,
        value: String,
    },
    /// Bad input: a tensor stored outside the model file is missing or malformed.
    #[error("{file}: external data of tensor \"{tensor}\": {message}")]
    ExternalData {
        file: String,
        tensor: String,
        message: String,
    },
    /// Bad input: the model is structurally invalid (a malformed initializer, an output
    /// that nothing defines, a non-tensor input, ...).
    #[error("{file}: {message}")]
    InvalidModel { file: String, message: String },
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

/// One unsupported operator kind and the nodes that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedOp {
    pub op_type: String,
    /// `""` for the default domain.
    pub domain: String,
    /// The opset version of `domain` the model imports (0 when it imports none).
    pub opset: i64,
    /// Names of the nodes (in model order) using it.
    pub nodes: Vec<String>,
}

impl fmt::Display for UnsupportedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.op_type)?;
        f.write_str(" (")?;
        if !self.domain.is_empty() {
            write!(f, "domain {}, ", self.domain)?;
        }
        write!(f, "opset {}, ", self.opset)?;
        let shown: Vec<String> = self
            .nodes
            .iter()
            .take(3)
            .map(|n| format!("\"{n}\""))
            .collect();
        let more = self.nodes.len().saturating_sub(shown.len());
        let word = if self.nodes.len() == 1 {
            "node"
        } else {
            "nodes"
        };
        write!(f, "{word} {}", shown.join(", "))?;
        if more > 0 {
            write!(f, " and {more} more")?;
        }
        f.write_str(")")
    }
}

/// Result alias of this crate.
pub type Result<T, E = OnnxError> = std::result::Result<T, E>;

/// An IR error's message without the node prefix (the variant adds file, node, op).
fn ir_detail(e: &IrError) -> String {
    e.detail(
        "attribute",
        "; a value fed as a graph input can be bound with --constant-input NAME=FILE.npy",
    )
}
