//! The TensorFlow operator table: which op type maps to which builder.
//!
//! One entry per op type. Builders live in one file per family and desugar composite
//! ops into IR ops (Rsqrt into Reciprocal of Sqrt, SquaredDifference into Sub and Mul,
//! Relu6 into Clip); fusion passes find the patterns again for every frontend. Every op
//! of a model (including those in the function bodies it calls) is checked against this
//! table before anything is built, so all unsupported ones are reported together.
//!
//! A few op types are handled by the importer itself, because they need more than one
//! node's inputs: calls (`StatefulPartitionedCall`, `PartitionedCall`: the callee is
//! inlined), graph inputs (`Placeholder`) and variables (`VarHandleOp`, `VariableV2`:
//! resolved to the checkpoint's tensors). They are listed here with
//! [`Handling::Importer`] so the table is the complete list of supported ops.

pub(crate) mod ctx;
pub(crate) mod einsum;
pub(crate) mod elementwise;
pub(crate) mod movement;
pub(crate) mod nn;
pub(crate) mod reduce;
pub(crate) mod resize;
pub(crate) mod shape;
pub(crate) mod slice;
pub(crate) mod space_batch;

pub(crate) use ctx::Ctx;

use crate::value::Val;
use neoc_ir::IrError;

/// Builds the IR for one node and returns its outputs (one value per TF output).
pub(crate) type BuildFn = fn(&mut Ctx<'_>) -> Result<Vec<Val>, IrError>;

/// How an op type is imported.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Handling {
    Build(BuildFn),
    /// By the importer (calls, inputs, variables).
    Importer,
}

/// One supported op type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TfOp {
    pub(crate) name: &'static str,
    pub(crate) handling: Handling,
    /// How it is mapped, when that is more than a one-to-one translation (docs table).
    pub(crate) note: &'static str,
}

/// Shorthand for table entries.
pub(crate) const fn op(name: &'static str, build: BuildFn, note: &'static str) -> TfOp {
    TfOp {
        name,
        handling: Handling::Build(build),
        note,
    }
}

const IMPORTER: &[TfOp] = &[
    TfOp {
        name: "StatefulPartitionedCall",
        handling: Handling::Importer,
        note: "the called function is inlined",
    },
    TfOp {
        name: "PartitionedCall",
        handling: Handling::Importer,
        note: "the called function is inlined",
    },
    TfOp {
        name: "Placeholder",
        handling: Handling::Importer,
        note: "a graph input (frozen graphs), or a signature input",
    },
    TfOp {
        name: "VarHandleOp",
        handling: Handling::Importer,
        note: "a variable: its checkpoint value (SavedModel), by capture or shared name",
    },
    TfOp {
        name: "VariableV2",
        handling: Handling::Importer,
        note: "a TF1 variable: its checkpoint value by node name",
    },
];

const FAMILIES: [&[TfOp]; 10] = [
    IMPORTER,
    elementwise::OPS,
    nn::OPS,
    reduce::OPS,
    movement::OPS,
    slice::OPS,
    shape::OPS,
    resize::OPS,
    einsum::OPS,
    space_batch::OPS,
];

/// Every supported op, in table order.
pub(crate) fn all() -> impl Iterator<Item = &'static TfOp> {
    FAMILIES.iter().flat_map(|f| f.iter())
}

/// The entry for op type `name`.
pub(crate) fn lookup(name: &str) -> Option<&'static TfOp> {
    all().find(|o| o.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let names: Vec<&str> = all().map(|o| o.name).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(n), "{n} is registered twice");
        }
    }
}
