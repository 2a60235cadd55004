//! `neoc inspect FILE`: what a model (.onnx) contains or what an artifact (.neo) needs,
//! as text for people or, with `--json`, as one JSON object for tools (schema in
//! docs/cli.md; fields are only ever added, never renamed or removed).

use crate::diag::Failure;
use neoc_driver::inspect::human_bytes;
use serde_json::{json, Value};
use std::path::Path;

/// `neoc inspect`'s options.
#[derive(Debug)]
pub(crate) struct InspectArgs<'a> {
    pub ir: bool,
    pub kernels: bool,
    pub dot: Option<&'a Path>,
    pub dot_before_passes: bool,
    pub opt_level: u8,
    pub json: bool,
    pub quiet: bool,
}

/// The version of the `--json` schema; raised when a field changes meaning.
const SCHEMA: u32 = 1;

fn is_artifact(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && magic == neoc_artifact::MAGIC
}

pub(crate) fn inspect(file: &Path, args: InspectArgs<'_>) -> Result<(), Failure> {
    if is_artifact(file) {
        return inspect_artifact(file, args.json);
    }
    let info = neoc_onnx::read_model_info(file)
        .map_err(|e| crate::hints::driver(neoc_driver::DriverError::Onnx(e), file))?;
    let graph = neoc_driver::import(file, &[], &[]).ok();
    if args.json {
        if args.ir || args.kernels || args.dot.is_some() {
            return Err(Failure::usage(
                "--json describes the model; it cannot be combined with --ir, --kernels or --dot",
            ));
        }
        println!("{}", model_json(&info, graph.as_ref()));
        return Ok(());
    }
    print!(
        "{}",
        neoc_driver::inspect::model_report(&info, graph.as_ref())
    );
    let title = file.display().to_string();
    if let (Some(path), true, Some(g)) = (args.dot, args.dot_before_passes, graph.as_ref()) {
        write_dot(path, g, &title, args.quiet)?;
    }
    if args.ir || args.kernels || (args.dot.is_some() && !args.dot_before_passes) {
        let driver_err = |e| crate::hints::driver(e, file);
        let mut g = neoc_driver::import(file, &[], &[]).map_err(driver_err)?;
        let opts = neoc_driver::CompileOptions {
            opt_level: args.opt_level,
            ..neoc_driver::CompileOptions::default()
        };
        neoc_driver::optimize(&mut g, &title, &opts).map_err(driver_err)?;
        if let (Some(path), false) = (args.dot, args.dot_before_passes) {
            write_dot(path, &g, &title, args.quiet)?;
        }
        if args.ir {
            println!("\n{g:#}");
        }
        if args.kernels {
            let source = file.display().to_string();
            // Kernel IR as lowered for the best level of x86_64 (AVX-512 register tiles).
            let unit = neoc_kernel::VectorUnit::default();
            let planned = neoc_driver::plan::plan(&g, &source, unit).map_err(driver_err)?;
            println!("\n{}", planned.module);
        }
    }
    Ok(())
}

fn write_dot(path: &Path, g: &neoc_ir::Graph, title: &str, quiet: bool) -> Result<(), Failure> {
    std::fs::write(path, neoc_ir::dot::to_dot(g, title))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if !quiet {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// A model's `--json` object.
fn model_json(info: &neoc_onnx::ModelInfo, graph: Option<&neoc_ir::Graph>) -> Value {
    let tensors = |ts: &[neoc_onnx::TensorInfo]| -> Vec<Value> {
        ts.iter()
            .map(|t| {
                let shape: Value = match &t.dims {
                    None => Value::Null,
                    Some(dims) => dims
                        .iter()
                        .map(|d| match d {
                            neoc_onnx::DimInfo::Fixed(n) => json!(n),
                            neoc_onnx::DimInfo::Symbolic(s) => json!(s),
                            neoc_onnx::DimInfo::Unknown => Value::Null,
                        })
                        .collect(),
                };
                json!({"name": t.name, "dtype": t.dtype, "shape": shape})
            })
            .collect()
    };
    let flops = graph.map(neoc_driver::inspect::flops);
    json!({
        "schema": SCHEMA,
        "kind": "model",
        "file": info.file,
        "ir_version": info.ir_version,
        "producer": {"name": info.producer_name, "version": info.producer_version},
        "opsets": info.opset_imports.iter()
            .map(|(d, v)| json!({"domain": d, "version": v}))
            .collect::<Vec<_>>(),
        "graph": info.graph_name,
        "inputs": tensors(&info.inputs),
        "outputs": tensors(&info.outputs),
        "op_counts": info.op_counts,
        "initializers": info.initializer_count,
        "parameters": info.parameter_count,
        "parameter_bytes": info.parameter_bytes,
        "flops": flops.as_ref().map(|f| f.values().sum::<u64>()),
        "flops_by_op": flops,
    })
}

/// Whether this machine can run a code variant, and if not why.
fn runs_here(arch: &str, required: &[String], host: &[&str]) -> Result<(), String> {
    if arch != std::env::consts::ARCH {
        return Err(format!(
            "not on this machine: built for {arch}, this machine is {}",
            std::env::consts::ARCH
        ));
    }
    let missing: Vec<&str> = required
        .iter()
        .map(|s| s.as_str())
        .filter(|f| !host.contains(f))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("not on this CPU: lacks {}", missing.join(", ")))
    }
}

fn inspect_artifact(file: &Path, as_json: bool) -> Result<(), Failure> {
    let bytes = std::fs::read(file)
        .map_err(|e| Failure::runtime(format!("cannot read {}: {e}", file.display())))?;
    let view = neoc_artifact::Artifact::parse(&bytes).map_err(|e| {
        Failure::runtime(format!("{}: {e}", file.display())).with_hint(format!(
            "{} is not a complete artifact of this neoc; compile the model again with `neoc compile`",
            file.display()
        ))
    })?;
    let host = neoc_runtime::host_cpu_features();
    let t = view.target();
    let arch = t.arch.to_string();
    let plan = view.plan();
    let naive = view
        .metadata()
        .iter()
        .find(|(k, _)| k == neoc_driver::NAIVE_INTERMEDIATE_BYTES)
        .and_then(|(_, v)| v.parse::<u64>().ok());
    if as_json {
        let spec = |s: &neoc_artifact::TensorSpec| json!({"name": s.name, "dtype": s.dtype.name(), "shape": s.shape});
        let variants: Vec<Value> = view
            .variants()
            .iter()
            .map(|v| {
                let ok = runs_here(&arch, &v.required_features, &host);
                json!({
                    "name": v.name, "cpu": v.cpu, "code_bytes": v.code.len(),
                    "required_features": v.required_features,
                    "runs_here": ok.is_ok(), "why_not": ok.err(),
                })
            })
            .collect();
        let steps: Vec<Value> = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let info = plan.kernels.get(s.kernel as usize);
                json!({
                    "index": i, "kernel": info.map(|k| k.symbol.as_str()),
                    "parallel": info.is_some_and(|k| k.parallel), "nodes": s.label,
                })
            })
            .collect();
        let doc = json!({
            "schema": SCHEMA,
            "kind": "artifact",
            "file": file.display().to_string(),
            "size_bytes": bytes.len(),
            "format_version": view.format_version(),
            "min_reader_version": view.min_reader_version(),
            "compiler": view.compiler_version(),
            "target": {"name": t.name, "arch": arch, "triple": t.triple},
            "variants": variants,
            "inputs": view.inputs().iter().map(spec).collect::<Vec<_>>(),
            "outputs": view.outputs().iter().map(spec).collect::<Vec<_>>(),
            "plan": {
                "steps": steps, "kernels": plan.kernels.len(),
                "arena_bytes": plan.arena_size, "naive_intermediate_bytes": naive,
            },
            "weights_bytes": view.weights().len(),
            "metadata": view.metadata().iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect::<serde_json::Map<String, Value>>(),
        });
        println!("{doc}");
        return Ok(());
    }
    println!(
        "artifact: {} ({})",
        file.display(),
        human_bytes(bytes.len() as u64)
    );
    println!(
        "format version {} (readable by runtimes >= {}), built by {}",
        view.format_version(),
        view.min_reader_version(),
        view.compiler_version()
    );
    println!("target: {} ({}, {})", t.name, t.arch, t.triple);
    println!("code variants (best first; the runtime picks the first this CPU supports):");
    for v in view.variants() {
        let ok = runs_here(&arch, &v.required_features, &host)
            .err()
            .unwrap_or_else(|| "runs here".to_string());
        println!(
            "  {:<8} cpu {:<10} {:>10}  needs {}  [{ok}]",
            v.name,
            v.cpu,
            human_bytes(v.code.len() as u64),
            v.required_features.join(",")
        );
    }
    println!("inputs:");
    for s in view.inputs() {
        println!("  {} {}", s.name, s.type_string());
    }
    println!("outputs:");
    for s in view.outputs() {
        println!("  {} {}", s.name, s.type_string());
    }
    let naive = naive.map_or(String::new(), |n| {
        format!(" (naive sum of intermediates {})", human_bytes(n))
    });
    println!(
        "plan: {} steps, {} kernels, arena {}{naive}, weights {}",
        plan.steps.len(),
        plan.kernels.len(),
        human_bytes(plan.arena_size),
        human_bytes(view.weights().len() as u64)
    );
    for (i, s) in plan.steps.iter().enumerate() {
        let info = plan.kernels.get(s.kernel as usize);
        let k = info.map_or("?", |k| k.symbol.as_str());
        let par = if info.is_some_and(|k| k.parallel) {
            "parallel"
        } else {
            "        "
        };
        println!("  {i:>4} {k:<20} {par} {}", s.label);
    }
    for (k, v) in view.metadata() {
        println!("meta {k}: {v}");
    }
    Ok(())
}
