//! Errors of the graph IR.

/// An error raised while building or transforming a graph.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IrError {
    /// Bad input: operand types or shapes an operator cannot accept.
    #[error("node `{node}` ({op}): {message}")]
    Shape {
        node: String,
        op: String,
        message: String,
    },
    /// Bad input: an attribute value out of range for the operator.
    #[error("node `{node}` ({op}): invalid attribute: {message}")]
    Attribute {
        node: String,
        op: String,
        message: String,
    },
    /// Bad input: a value that must be known at compile time is not.
    #[error("node `{node}` ({op}): {what} must be a constant")]
    NotConstant {
        node: String,
        op: String,
        what: String,
    },
    /// Internal bug: a dangling id or a broken graph invariant.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = IrError> = std::result::Result<T, E>;

/// An operator-local error, before the node name is known. [`crate::Graph::add_node`]
/// turns it into an [`IrError`] naming the node and operator.
#[derive(Debug, Clone, PartialEq)]
pub enum OpError {
    Shape(String),
    Attribute(String),
    NotConstant(String),
}

pub(crate) type OpResult<T> = std::result::Result<T, OpError>;

impl OpError {
    pub fn at(self, node: &str, op: &str) -> IrError {
        let (node, op) = (node.to_string(), op.to_string());
        match self {
            OpError::Shape(message) => IrError::Shape { node, op, message },
            OpError::Attribute(message) => IrError::Attribute { node, op, message },
            OpError::NotConstant(what) => IrError::NotConstant { node, op, what },
        }
    }
}

/// Shorthand for a shape error.
pub(crate) fn shape_err<T>(msg: impl Into<String>) -> OpResult<T> {
    Err(OpError::Shape(msg.into()))
}
