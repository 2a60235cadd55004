//! Graph passes and the pipelines that run them.
//!
//! Each pass is one file with a function `run(&mut Graph) -> Result<bool>` that reports
//! whether it changed the graph. Most passes are a rewrite rule: a function that looks at
//! one node and returns a [`patch::Patch`] (or nothing), applied by [`patch::rewrite`].
//!
//! A pipeline is a list of steps per `--opt-level`; a step is one pass, or a group of
//! passes repeated until none of them changes the graph (at most
//! [`MAX_FIXED_POINT_ROUNDS`] rounds):
//!
//! ```text
//! level 0   dce
//! level 1   int8-qdq (QDQ models onto the int8 kernels, before folding)
//!           ┌▶ constant-fold → remove-identity → transpose-cancel → cse → dce ─┐  (fixed point)
//!           └──────────────────────────────────────────────────────────────────┘
//! level 2   level 1
//!           ┌▶ fold-pad → fold-batchnorm → fold-scalar → cleanups of level 1 ──┐  (fixed point)
//!           └──────────────────────────────────────────────────────────────────┘
//!           fuse-layernorm → fuse-softmax → fuse-elementwise → fuse-epilogue
//!           → recognize-gelu → dce
//! level 3   level 2 → blocked-layout → dce
//! ```
//!
//! | level | passes |
//! |---|---|
//! | 0 | `dce` (only what code generation needs) |
//! | 1 | `int8-qdq`, then cleanups to a fixed point: `constant-fold`, `remove-identity`, `transpose-cancel`, `cse`, `dce` |
//! | 2 | 1, then algebraic folds with the cleanups to a fixed point (`fold-pad`, `fold-batchnorm`, `fold-scalar`), then patterns (`fuse-layernorm`, `fuse-softmax`), fusion (`fuse-elementwise`, `fuse-epilogue`), `recognize-gelu`, `dce` |
//! | 3 | 2, then `blocked-layout` (NCHW16c/NCHW8c for depthwise and pointwise convolutions, conversions inserted and cancelled) and `dce` |
//!
//! The layout pass runs last: it moves fused convolutions (anchor and epilogue
//! together) and must see the final groups to know which values cross a layout edge.
//!
//! Folds run before fusion because fusion hides the Mul/Add/BatchNorm nodes they look
//! for inside fused ops. There is no weight-layout pass: the Gemm/MatMul lowering packs
//! a constant B at compile time from either `trans_b` layout.

pub mod blocked_layout;
pub mod constant_fold;
mod consts;
pub mod cse;
pub mod dce;
pub mod fold_batchnorm;
pub mod fold_pad;
pub mod fold_scalar;
pub mod int8_qdq;
pub mod patch;
pub mod remove_identity;
pub mod transpose_cancel;

// Pattern recognition and fusion passes.
pub mod fuse_elementwise;
pub mod fuse_epilogue;
pub mod fuse_layernorm;
pub mod fuse_softmax;
mod fusion;
mod pattern;
pub mod recognize_gelu;

#[cfg(test)]
mod test_util;

use neoc_ir::{Graph, IrError};

pub type Result<T, E = IrError> = std::result::Result<T, E>;

/// Errors of the pass manager.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PassError {
    /// Bad input: a pass name (from `--disable-pass` or `--print-ir-after`) that no
    /// pass has.
    #[error("unknown pass `{name}`; known passes: {}", known.join(", "))]
    UnknownPass {
        name: String,
        known: Vec<&'static str>,
    },
    /// A pass failed (its own error says whether that is bad input or a bug).
    #[error(transparent)]
    Ir(#[from] IrError),
}

impl From<PassError> for IrError {
    /// For callers that report graph errors only: an unknown pass name becomes an
    /// attribute error of the pipeline.
    fn from(e: PassError) -> IrError {
        match e {
            PassError::Ir(e) => e,
            e @ PassError::UnknownPass { .. } => IrError::Attribute {
                node: "pipeline".into(),
                op: "pass list".into(),
                message: e.to_string(),
            },
        }
    }
}

/// A named pass.
#[derive(Debug, Clone, Copy)]
pub struct Pass {
    pub name: &'static str,
    pub run: fn(&mut Graph) -> Result<bool>,
}

/// Every pass, by name.
pub const PASSES: &[Pass] = &[
    Pass {
        name: "dce",
        run: dce::run,
    },
    Pass {
        name: "constant-fold",
        run: constant_fold::run,
    },
    Pass {
        name: "remove-identity",
        run: remove_identity::run,
    },
    Pass {
        name: "transpose-cancel",
        run: transpose_cancel::run,
    },
    Pass {
        name: "cse",
        run: cse::run,
    },
    Pass {
        name: "fold-batchnorm",
        run: fold_batchnorm::run,
    },
    Pass {
        name: "fold-scalar",
        run: fold_scalar::run,
    },
    Pass {
        name: "fold-pad",
        run: fold_pad::run,
    },
    // Pattern recognition and fusion passes.
    Pass {
        name: "fuse-layernorm",
        run: fuse_layernorm::run,
    },
    Pass {
        name: "fuse-softmax",
        run: fuse_softmax::run,
    },
    Pass {
        name: "recognize-gelu",
        run: recognize_gelu::run,
    },
    Pass {
        name: "fuse-elementwise",
        run: fuse_elementwise::run,
    },
    Pass {
        name: "fuse-epilogue",
        run: fuse_epilogue::run,
    },
    Pass {
        name: "blocked-layout",
        run: blocked_layout::run,
    },
    // Quantized models onto the int8 kernels (docs/quantization.md).
    Pass {
        name: "int8-qdq",
        run: int8_qdq::run,
    },
];

/// Most rounds a fixed-point group runs; each rewrite shrinks or simplifies the graph,
/// so real models settle in two or three.
pub const MAX_FIXED_POINT_ROUNDS: usize = 8;

/// One step of a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Run one pass once.
    Once(&'static str),
    /// Run the passes in order, repeatedly, until a round changes nothing.
    FixedPoint(&'static [&'static str]),
}

const CLEANUPS: &[&str] = &[
    "constant-fold",
    "remove-identity",
    "transpose-cancel",
    "cse",
    "dce",
];

const FOLDS: &[&str] = &[
    "fold-pad",
    "fold-batchnorm",
    "fold-scalar",
    "constant-fold",
    "remove-identity",
    "transpose-cancel",
    "cse",
    "dce",
];

/// The steps of an optimisation level, in order. Names not in [`PASSES`] are skipped
/// (a pass that is not built yet).
pub fn pipeline(opt_level: u8) -> Vec<Step> {
    let mut steps = vec![];
    if opt_level == 0 {
        return vec![Step::Once("dce")];
    }
    // Before constant folding, which folds the weights' DequantizeLinear away.
    steps.push(Step::Once("int8-qdq"));
    steps.push(Step::FixedPoint(CLEANUPS));
    if opt_level >= 2 {
        steps.push(Step::FixedPoint(FOLDS));
        steps.extend(
            [
                // Patterns written as primitives by exporters become single ops...
                "fuse-layernorm",
                "fuse-softmax",
                // ...then fusion: after every fold, since a fused node hides the
                // elementwise ops the folds look for.
                "fuse-elementwise",
                "fuse-epilogue",
                // GELU is recognised by probing fused programs, so it runs last.
                "recognize-gelu",
                "dce",
            ]
            .map(Step::Once),
        );
    }
    if opt_level >= 3 {
        steps.extend(["blocked-layout", "dce"].map(Step::Once));
    }
    steps
}

/// The names of every pass.
pub fn pass_names() -> Vec<&'static str> {
    PASSES.iter().map(|p| p.name).collect()
}

fn lookup(name: &str) -> Option<&'static Pass> {
    PASSES.iter().find(|p| p.name == name)
}

fn check_names(names: &[String]) -> std::result::Result<(), PassError> {
    match names.iter().find(|n| lookup(n).is_none()) {
        Some(name) => Err(PassError::UnknownPass {
            name: name.clone(),
            known: pass_names(),
        }),
        None => Ok(()),
    }
}

/// Runs the pipeline of `opt_level`, skipping the passes named in `disabled`.
/// Returns the names of the passes that changed the graph, each once, in the order they
/// first did.
pub fn optimize(
    graph: &mut Graph,
    opt_level: u8,
    disabled: &[String],
) -> Result<Vec<&'static str>> {
    Ok(optimize_with(
        graph,
        opt_level,
        disabled,
        &[],
        &mut |_, _| {},
    )?)
}

/// [`optimize`], and after every run of a pass named in `print_after` (every round of a
/// fixed-point group, whether or not the pass changed anything) calls `sink` with the
/// pass name and the graph, for `--print-ir-after`. Unknown names in `disabled` or
/// `print_after` are an error listing the known passes.
pub fn optimize_with(
    graph: &mut Graph,
    opt_level: u8,
    disabled: &[String],
    print_after: &[String],
    sink: &mut dyn FnMut(&str, &Graph),
) -> std::result::Result<Vec<&'static str>, PassError> {
    check_names(disabled)?;
    check_names(print_after)?;
    let mut changed: Vec<&'static str> = Vec::new();
    let mut run_one = |name: &'static str, graph: &mut Graph| -> Result<bool> {
        let Some(pass) = lookup(name) else {
            return Ok(false);
        };
        if disabled.iter().any(|d| d == name) {
            return Ok(false);
        }
        let did = (pass.run)(graph)?;
        if did && !changed.contains(&name) {
            changed.push(name);
        }
        if print_after.iter().any(|p| p == name) {
            sink(name, graph);
        }
        Ok(did)
    };
    for step in pipeline(opt_level) {
        match step {
            Step::Once(name) => {
                run_one(name, graph)?;
            }
            Step::FixedPoint(names) => {
                for _ in 0..MAX_FIXED_POINT_ROUNDS {
                    let mut any = false;
                    for &name in names {
                        any |= run_one(name, graph)?;
                    }
                    if !any {
                        break;
                    }
                }
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;
    use neoc_ir::ops::{Transpose, UnaryOp};
    use neoc_ir::Op;

    fn graph() -> Graph {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[2, 3]));
        let a = node(&mut g, Op::Transpose(Transpose { perm: vec![1, 0] }), &[x]);
        let b = node(&mut g, Op::Transpose(Transpose { perm: vec![1, 0] }), &[a]);
        let c = node(&mut g, Op::Identity, &[b]);
        let y = node(&mut g, Op::Unary(UnaryOp::Exp), &[c]);
        g.set_outputs(vec![y]);
        g
    }

    #[test]
    fn every_pipeline_name_is_a_pass() {
        for level in 0..=3 {
            for step in pipeline(level) {
                let names = match step {
                    Step::Once(n) => vec![n],
                    Step::FixedPoint(ns) => ns.to_vec(),
                };
                for n in names {
                    assert!(
                        lookup(n).is_some(),
                        "level {level}: `{n}` is not registered"
                    );
                }
            }
        }
    }

    #[test]
    fn cleanups_reach_a_fixed_point() {
        let g = graph();
        let mut h = g.clone();
        let changed = optimize(&mut h, 1, &[]).unwrap();
        assert_eq!(h.node_count(), 1, "{h}");
        assert!(changed.contains(&"transpose-cancel"));
        assert_same(&g, &h);
        // Nothing left to do.
        assert!(optimize(&mut h, 1, &[]).unwrap().is_empty());
    }

    #[test]
    fn disabled_passes_do_not_run() {
        let mut h = graph();
        let off = [
            "transpose-cancel".to_string(),
            "remove-identity".to_string(),
        ];
        optimize(&mut h, 1, &off).unwrap();
        assert_eq!(count(&h, "Transpose"), 2);
        assert_eq!(count(&h, "Identity"), 1);
    }

    #[test]
    fn sink_sees_the_graph_after_named_passes() {
        let mut h = graph();
        let mut seen = Vec::new();
        optimize_with(
            &mut h,
            1,
            &[],
            &["transpose-cancel".into()],
            &mut |name, g| {
                seen.push((name.to_string(), count(g, "Transpose")));
            },
        )
        .unwrap();
        assert_eq!(seen.first(), Some(&("transpose-cancel".to_string(), 0)));
        assert!(seen.iter().all(|(n, _)| n == "transpose-cancel"));
    }

    #[test]
    fn unknown_pass_names_list_the_known_ones() {
        let mut h = graph();
        let err =
            optimize_with(&mut h, 2, &["fold-everything".into()], &[], &mut |_, _| {}).unwrap_err();
        let PassError::UnknownPass { name, known } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(name, "fold-everything");
        assert!(known.contains(&"cse"));
        assert!(err.to_string().contains("known passes: dce, constant-fold"));
        let err = optimize_with(&mut h, 2, &[], &["nope".into()], &mut |_, _| {}).unwrap_err();
        assert!(matches!(err, PassError::UnknownPass { .. }));
        assert!(optimize(&mut h, 2, &["nope".into()]).is_err());
    }
}
