//! The MXNet operator table: which op maps to which builder.
//!
//! One entry per operator name as the symbol JSON writes it (`Convolution`,
//! `elemwise_add`, `_plus_scalar`); legacy aliases (`_Plus`, `ElementWiseSum`) get
//! their own entries. Every op of a model is checked against this table before
//! anything is built, so all unsupported ones are reported together. Composite ops are
//! desugared into IR ops (softrelu into Softplus, `LeakyRelu(gelu)` into Gelu,
//! `SoftmaxOutput` into Softmax over the flattened trailing dims).

pub(crate) mod ctx;
pub(crate) mod elementwise;
pub(crate) mod nn;
pub(crate) mod shape;

pub(crate) use ctx::Ctx;

use neoc_ir::{IrError, ValueId};

/// Builds the IR for one node and returns its outputs.
pub(crate) type BuildFn = fn(&mut Ctx<'_>) -> Result<Vec<ValueId>, IrError>;

/// One supported operator.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MxOp {
    pub(crate) name: &'static str,
    pub(crate) build: BuildFn,
    /// How it is mapped, when that is more than a one-to-one translation (docs table).
    pub(crate) note: &'static str,
    /// Inputs the op reads (the rest, like SoftmaxOutput's label, are training-only and
    /// never become graph inputs).
    pub(crate) reads: usize,
}

/// Shorthand for table entries.
pub(crate) const fn op(name: &'static str, build: BuildFn, note: &'static str) -> MxOp {
    MxOp {
        name,
        build,
        note,
        reads: usize::MAX,
    }
}

const FAMILIES: [&[MxOp]; 3] = [nn::OPS, elementwise::OPS, shape::OPS];

/// Every supported operator, in table order.
pub(crate) fn all() -> impl Iterator<Item = &'static MxOp> {
    FAMILIES.iter().flat_map(|f| f.iter())
}

/// The entry for operator `name`.
pub(crate) fn lookup(name: &str) -> Option<&'static MxOp> {
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
