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

impl IrError {
    /// The message without the `node (op)` prefix, for the frontends, which name the
    /// file, node and operator in their own words: `attribute` is what the frontend calls
    /// an operator's parameters ("attribute", "argument"), `constant_hint` follows a
    /// "must be a constant" message (how to make the value constant with that frontend).
    pub fn detail(&self, attribute: &str, constant_hint: &str) -> String {
        match self {
            IrError::Shape { message, .. } => message.clone(),
            IrError::Attribute { message, .. } => format!("invalid {attribute}: {message}"),
            IrError::NotConstant { what, .. } => format!(
                "{what} must be a constant (computable at compile time): neoc compiles \
                 static shapes, dynamic ones are not supported{constant_hint}"
            ),
            IrError::Internal(m) => format!("internal error: {m}"),
        }
    }
}

/// An I/O error's description without the `(os error N)` suffix (frontends name the
/// file themselves).
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// `items` joined with ", " (the frontends' lists of unsupported operators).
pub fn comma_list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

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
