//! The aten operator table: which aten operator maps to which builder.
//!
//! One entry per operator name (`conv2d`, `add`, `_native_batch_norm_legit_no_training`),
//! whatever the overload (`add.Tensor`, `add.Scalar`): overloads of one operator share
//! their schema's argument names, and the builder looks at the argument kinds. In-place
//! variants (`relu_`, `add_`, which traced TorchScript records) resolve to the
//! functional builder; the TorchScript interpreter rebinds the mutated tensor.
//!
//! Both formats use this one table: torch.export nodes (`torch.ops.aten.conv2d.default`)
//! and TorchScript calls (`torch.conv2d(...)`, `ops.aten.conv2d(...)`). Every operator
//! of a model is checked against it before anything is built, so all unsupported ones
//! are reported together.

pub(crate) mod attention;
pub(crate) mod call;
pub(crate) mod conv_pool;
pub(crate) mod creation;
pub(crate) mod elementwise;
pub(crate) mod linalg;
pub(crate) mod movement;
pub(crate) mod normalization;
pub(crate) mod recurrent;
pub(crate) mod reduce;
pub(crate) mod resample;

use crate::value::Val;
pub(crate) use call::Call;
use neoc_ir::IrError;

/// Builds the IR for one aten call and returns its results (one value per output of
/// the schema; tuples as several values).
pub(crate) type BuildFn = fn(&mut Call<'_>) -> Result<Vec<Val>, IrError>;

/// One supported aten operator.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AtenOp {
    /// The operator name without namespace and overload (`conv2d`).
    pub(crate) name: &'static str,
    pub(crate) build: BuildFn,
    /// How it is mapped, when that is more than a one-to-one translation (docs table).
    pub(crate) note: &'static str,
}

/// Shorthand for table entries.
pub(crate) const fn op(name: &'static str, build: BuildFn, note: &'static str) -> AtenOp {
    AtenOp { name, build, note }
}

const FAMILIES: [&[AtenOp]; 10] = [
    elementwise::OPS,
    linalg::OPS,
    conv_pool::OPS,
    normalization::OPS,
    movement::OPS,
    creation::OPS,
    reduce::OPS,
    attention::OPS,
    recurrent::OPS,
    resample::OPS,
];

/// Every supported operator, in table order.
pub(crate) fn all() -> impl Iterator<Item = &'static AtenOp> {
    FAMILIES.iter().flat_map(|f| f.iter())
}

/// The entry for operator `name`, and whether the call is an in-place variant
/// (`relu_` → `relu`).
pub(crate) fn lookup(name: &str) -> Option<(&'static AtenOp, bool)> {
    if let Some(o) = all().find(|o| o.name == name) {
        return Some((o, false));
    }
    let base = name.strip_suffix('_').filter(|b| !b.ends_with('_'))?;
    all().find(|o| o.name == base).map(|o| (o, true))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]
    use super::*;

    #[test]
    fn names_are_unique() {
        let names: Vec<&str> = all().map(|o| o.name).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(n), "{n} is registered twice");
        }
    }

    #[test]
    fn in_place_variants_resolve() {
        assert!(matches!(lookup("relu_"), Some((o, true)) if o.name == "relu"));
        assert!(matches!(lookup("relu"), Some((o, false)) if o.name == "relu"));
        assert!(lookup("no_such_op").is_none());
    }
}
