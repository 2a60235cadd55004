//! `neoc check MODEL`: prints every operator (and node) neoc cannot compile, grouped,
//! with counts and opsets; the work is `neoc_driver::check`.

use crate::diag::Failure;
use neoc_driver::check::{CheckReport, Gap};
use std::path::Path;

/// Runs the check and prints the report; `Ok(true)` when the whole model compiles.
pub(crate) fn check(
    model: &Path,
    target: String,
    input_shapes: &[String],
    constant_inputs: &[String],
) -> Result<bool, Failure> {
    let opts = neoc_driver::CompileOptions {
        target,
        input_shapes: input_shapes
            .iter()
            .map(|s| crate::parse_shape(s))
            .collect::<Result<_, _>>()
            .map_err(Failure::usage)?,
        constant_inputs: constant_inputs
            .iter()
            .map(|s| crate::parse_constant(s))
            .collect::<Result<_, _>>()?,
        ..neoc_driver::CompileOptions::default()
    };
    let report = neoc_driver::check::check(model, &opts).map_err(|e| {
        let mut f = crate::hints::driver(e, model);
        // Pointing at `neoc check` from `neoc check` would not help.
        if f.hint
            .as_deref()
            .is_some_and(|h| h.starts_with("`neoc check"))
        {
            f.hint = None;
        }
        f
    })?;
    let file = model.display();
    match &report {
        CheckReport::Supported { nodes, ops } => println!(
            "{file}: supported: all {nodes} nodes ({ops} operator types) compile for {}",
            opts.target
        ),
        CheckReport::Stopped(message) => {
            println!("{file}: not supported:\n  {message}");
        }
        CheckReport::Gaps(gaps) => {
            let nodes: usize = gaps.iter().map(|g| g.nodes.len()).sum();
            println!(
                "{file}: not supported: {} operator{} ({nodes} node{}) cannot be compiled:",
                gaps.len(),
                plural(gaps.len()),
                plural(nodes)
            );
            for g in gaps {
                println!("  {}", describe(g));
            }
        }
    }
    Ok(report.is_supported())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `Op (domain, opset N): K nodes "a", "b" and 3 more[: reason]`.
fn describe(g: &Gap) -> String {
    let mut s = g.op_type.clone();
    let mut tags = Vec::new();
    if !g.domain.is_empty() {
        tags.push(format!("domain {}", g.domain));
    }
    if g.opset > 0 {
        tags.push(format!("opset {}", g.opset));
    }
    if !tags.is_empty() {
        s.push_str(&format!(" ({})", tags.join(", ")));
    }
    const SHOWN: usize = 5;
    let names: Vec<String> = g
        .nodes
        .iter()
        .take(SHOWN)
        .map(|n| format!("\"{n}\""))
        .collect();
    s.push_str(&format!(
        ": {} node{} {}",
        g.nodes.len(),
        plural(g.nodes.len()),
        names.join(", ")
    ));
    if g.nodes.len() > SHOWN {
        s.push_str(&format!(" and {} more", g.nodes.len() - SHOWN));
    }
    if !g.reason.is_empty() {
        s.push_str(&format!(" — {}", g.reason));
    }
    s
}
