//! Graph passes and the pipelines that run them.
//!
//! Each pass is one file with a function `run(&mut Graph) -> Result<bool>` that reports
//! whether it changed the graph. A pipeline is a list of passes per `--opt-level`:
//!
//! | level | passes |
//! |---|---|
//! | 0 | `dce` (only what code generation needs) |
//! | 1 | `dce`, `fold-batchnorm`, `gemm-weight-layout` |
//! | 2, 3 | as 1 (fusion and layout passes arrive with the optimizer) |

pub mod dce;
pub mod fold_batchnorm;
pub mod fuse_elementwise;
pub mod fuse_epilogue;
mod fusion;
pub mod gemm_weight_layout;

use neoc_ir::{Graph, IrError};

pub type Result<T, E = IrError> = std::result::Result<T, E>;

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
        name: "fold-batchnorm",
        run: fold_batchnorm::run,
    },
    Pass {
        name: "gemm-weight-layout",
        run: gemm_weight_layout::run,
    },
    Pass {
        name: "fuse-elementwise",
        run: fuse_elementwise::run,
    },
    Pass {
        name: "fuse-epilogue",
        run: fuse_epilogue::run,
    },
];

/// The passes of an optimisation level, in order.
pub fn pipeline(opt_level: u8) -> Vec<Pass> {
    let names: &[&str] = match opt_level {
        0 => &["dce"],
        1 => &["fold-batchnorm", "gemm-weight-layout", "dce"],
        _ => &[
            "fold-batchnorm",
            "gemm-weight-layout",
            "dce",
            "fuse-elementwise",
            "fuse-epilogue",
        ],
    };
    names
        .iter()
        .filter_map(|n| PASSES.iter().find(|p| p.name == *n).copied())
        .collect()
}

/// Runs the pipeline of `opt_level`, skipping the passes named in `disabled`.
/// Returns the names of the passes that changed the graph.
pub fn optimize(
    graph: &mut Graph,
    opt_level: u8,
    disabled: &[String],
) -> Result<Vec<&'static str>> {
    let mut changed = Vec::new();
    for pass in pipeline(opt_level) {
        if disabled.iter().any(|d| d == pass.name) {
            continue;
        }
        if (pass.run)(graph)? {
            changed.push(pass.name);
        }
    }
    Ok(changed)
}
