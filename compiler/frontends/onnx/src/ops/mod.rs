//! The operator registry: which ONNX op, in which opset range, maps to which builder.
//!
//! Opset is data: an op whose meaning changed across opsets has one [`OpSpec`] per
//! range, each with its own builder (e.g. `Softmax` 1–12 with coerce-to-2-D semantics
//! and 13–22 over one axis). A node is supported when a spec matches its op type, domain
//! and the model's opset for that domain; everything else is collected and reported at
//! once before any node is built.

pub(crate) mod cast;
pub(crate) mod constant;
pub(crate) mod control;
pub(crate) mod conv_pool;
pub(crate) mod data_dependent;
pub(crate) mod einsum;
pub(crate) mod elementwise;
pub(crate) mod generate;
pub(crate) mod legacy;
pub(crate) mod linalg;
pub(crate) mod loss;
pub(crate) mod ml;
pub(crate) mod movement;
pub(crate) mod ms_fused;
pub(crate) mod ms_fused_attention;
pub(crate) mod normalization;
pub(crate) mod pad;
pub(crate) mod quantize;
pub(crate) mod rearrange;
pub(crate) mod recurrent;
pub(crate) mod reduce;
pub(crate) mod resize;
pub(crate) mod reverse_sequence;
pub(crate) mod scatter;
pub(crate) mod select;
pub(crate) mod sequence;
pub(crate) mod signal;
pub(crate) mod tfidf;
pub(crate) mod training;
pub(crate) mod tree_ensemble;
pub(crate) mod window;

use crate::context::{Built, NodeCtx};

/// The lowest default-domain (`ai.onnx`) opset the frontend imports. Each operator is
/// further held to its own spec range (most start at 7, where broadcasting replaced
/// the `broadcast` and `consumed_inputs` attributes), so an old model using an
/// operator whose early form is not implemented is refused by operator name.
pub const MIN_OPSET: i64 = 1;
/// The highest default-domain (`ai.onnx`) opset the frontend imports.
pub const MAX_OPSET: i64 = 22;

/// Builds the IR for one ONNX node.
pub(crate) type BuildFn = fn(&mut NodeCtx<'_>) -> Built;

/// One supported (op type, domain, opset range).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpSpec {
    pub(crate) op_type: &'static str,
    /// `""` is the default ONNX domain (`ai.onnx`).
    pub(crate) domain: &'static str,
    /// The opset range, inclusive, in which `build` implements the op's meaning.
    pub(crate) min_opset: i64,
    pub(crate) max_opset: i64,
    pub(crate) build: BuildFn,
    /// What the builder does beyond a direct mapping (for the docs table).
    pub(crate) note: &'static str,
}

/// A default-domain spec.
pub(crate) const fn spec(
    op_type: &'static str,
    min_opset: i64,
    max_opset: i64,
    build: BuildFn,
    note: &'static str,
) -> OpSpec {
    OpSpec {
        op_type,
        domain: "",
        min_opset,
        max_opset,
        build,
        note,
    }
}

/// A spec of a non-default domain whose operators have one version (opset 1):
/// `com.microsoft`, `ai.onnx.preview.training`.
pub(crate) const fn domain_spec(
    domain: &'static str,
    op_type: &'static str,
    build: BuildFn,
    note: &'static str,
) -> OpSpec {
    OpSpec {
        op_type,
        domain,
        min_opset: 1,
        max_opset: 1,
        build,
        note,
    }
}

const FAMILIES: [&[OpSpec]; 31] = [
    data_dependent::SPECS,
    sequence::SPECS,
    legacy::SPECS,
    cast::SPECS,
    elementwise::SPECS,
    conv_pool::SPECS,
    linalg::SPECS,
    normalization::SPECS,
    movement::SPECS,
    constant::SPECS,
    pad::SPECS,
    reduce::SPECS,
    select::SPECS,
    rearrange::SPECS,
    scatter::SPECS,
    recurrent::SPECS,
    einsum::SPECS,
    loss::SPECS,
    signal::SPECS,
    resize::SPECS,
    quantize::SPECS,
    quantize::CONTRIB_SPECS,
    ms_fused::SPECS,
    generate::SPECS,
    training::SPECS,
    window::SPECS,
    ml::SPECS,
    control::SPECS,
    reverse_sequence::SPECS,
    tfidf::SPECS,
    tree_ensemble::SPECS,
];

/// Every registered spec.
pub(crate) fn all() -> impl Iterator<Item = &'static OpSpec> {
    FAMILIES.iter().flat_map(|f| f.iter())
}

/// The spec for `op_type` in `domain` (normalised: `ai.onnx` is `""`) at `opset`.
pub(crate) fn lookup(op_type: &str, domain: &str, opset: i64) -> Option<&'static OpSpec> {
    let domain = normalize_domain(domain);
    all().find(|s| {
        s.op_type == op_type && s.domain == domain && (s.min_opset..=s.max_opset).contains(&opset)
    })
}

/// `ai.onnx` and `""` name the same domain.
pub(crate) fn normalize_domain(domain: &str) -> &str {
    if domain == "ai.onnx" {
        ""
    } else {
        domain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_do_not_overlap() {
        let specs: Vec<&OpSpec> = all().collect();
        for (i, a) in specs.iter().enumerate() {
            assert!(a.min_opset <= a.max_opset, "{}", a.op_type);
            for b in &specs[i + 1..] {
                if a.op_type == b.op_type && a.domain == b.domain {
                    assert!(
                        a.max_opset < b.min_opset || b.max_opset < a.min_opset,
                        "{} has overlapping specs",
                        a.op_type
                    );
                }
            }
        }
    }

    #[test]
    fn opset_selects_the_builder() {
        assert!(lookup("Softmax", "", 11).is_some());
        assert!(lookup("Softmax", "ai.onnx", 13).is_some());
        assert!(lookup("HardSwish", "", 13).is_none());
        assert!(lookup("RandomUniformLike", "", 13).is_none());
        assert!(lookup("Relu", "com.microsoft", 1).is_none());
    }
}
