//! The values an aten operator call takes and returns, shared by both archive formats.
//!
//! torch.export's JSON arguments (`as_tensor`, `as_ints`, `as_scalar_type`, ...) and the
//! values of the TorchScript interpreter both become [`Val`]s, so one operator table
//! serves both formats. Tensors are IR values; everything else (ints, lists, dtypes as
//! c10 numbers, devices) is known at import time.

use neoc_ir::ValueId;

/// An argument or result of an aten operator.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Device(String),
    Tensor(ValueId),
    /// Lists and tuples alike (`int[]`, `Tensor[]`, `Tensor?[]`, returned tuples).
    List(Vec<Val>),
}

impl Val {
    /// A short description of the value's kind, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Val::None => "None",
            Val::Bool(_) => "a bool",
            Val::Int(_) => "an int",
            Val::Float(_) => "a float",
            Val::Str(_) => "a string",
            Val::Device(_) => "a device",
            Val::Tensor(_) => "a tensor",
            Val::List(_) => "a list",
        }
    }
}
