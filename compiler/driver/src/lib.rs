//! The compile pipeline, as a library (the `neoc` binary is a thin shell around it).
//!
//! ```text
//! model file ─frontend─▶ Graph ─passes─▶ Graph ─lower─▶ kernels ─plan─▶ steps + arena
//!                                                          │
//!                        one code variant per CPU level ◀──┘ (targets/llvm)
//!                                      │
//!                                      ▼
//!                           neoc_artifact::Artifact (one file)
//! ```

pub mod check;
pub mod codegen;
pub mod error;
pub mod frontend;
pub mod inspect;
pub mod plan;
pub mod progress;
pub mod quantize;
pub use plan::ir_dtype;

pub use error::DriverError;
pub use frontend::{import, Framework, ModelSelection};
pub use progress::{Progress, Stage};

use neoc_artifact::Artifact;
use neoc_ir::Graph;
use std::path::Path;
use std::time::{Duration, Instant};

/// Metadata key: the sum of all intermediate tensor sizes (what memory planning saves
/// is the difference to the plan's arena size).
pub const NAIVE_INTERMEDIATE_BYTES: &str = "naive_intermediate_bytes";

/// What to compile for and how.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// A target name from `neoc targets` (aliases and `host` accepted).
    pub target: String,
    /// 0 = no optimisation passes, 3 = all; LLVM runs at O3 from level 1.
    pub opt_level: u8,
    /// Overrides for input shapes (`--input-shape x=1,3,224,224`).
    pub input_shapes: Vec<(String, Vec<u64>)>,
    /// Graph inputs bound to constants (`--constant-input sizes=sizes.npy`).
    pub constant_inputs: Vec<(String, neoc_ir::Tensor)>,
    /// Passes to skip (`--disable-pass NAME`).
    pub disabled_passes: Vec<String>,
    /// Print the graph IR to stderr after each of these passes (`--print-ir-after`).
    pub print_ir_after: Vec<String>,
    /// Which part of the model to import (`--signature`, `--outputs`, `--params`).
    pub selection: ModelSelection,
    /// Called as stages start and finish (see [`progress`]); none by default.
    pub progress: Progress,
    /// `--quantize int8` (see [`quantize`]); none by default.
    pub quantize: Option<quantize::QuantizeOptions>,
    /// `--precision`: how `f32` weights and activations are stored between kernels
    /// (`neoc_kernel::narrow`; `docs/cuda.md`, "Precision"); `f32` by default.
    pub precision: neoc_kernel::Precision,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            target: "x86_64".into(),
            opt_level: 2,
            input_shapes: Vec::new(),
            constant_inputs: Vec::new(),
            disabled_passes: Vec::new(),
            print_ir_after: Vec::new(),
            selection: ModelSelection::default(),
            progress: Progress::default(),
            quantize: None,
            precision: neoc_kernel::Precision::F32,
        }
    }
}

/// Timings and sizes of one compilation, for progress output and reports.
#[derive(Debug, Clone, Default)]
pub struct CompileReport {
    pub import_time: Duration,
    pub passes_time: Duration,
    pub lower_time: Duration,
    pub codegen_time: Duration,
    /// Graph nodes after import, before the passes.
    pub nodes_before_passes: usize,
    pub graph_nodes: usize,
    pub steps: usize,
    pub unique_kernels: usize,
    pub arena_bytes: u64,
    pub naive_intermediate_bytes: u64,
    pub weight_bytes: u64,
    pub variants: Vec<String>,
    /// What `--quantize int8` did.
    pub quantization: Option<quantize::QuantizeReport>,
}

/// Compiles a model file into an artifact.
pub fn compile_file(
    path: &Path,
    opts: &CompileOptions,
) -> Result<(Artifact, CompileReport), DriverError> {
    let t0 = Instant::now();
    opts.progress.report(Stage::Import, 0, 1);
    let graph = frontend::import_with(
        path,
        None,
        &opts.input_shapes,
        &opts.constant_inputs,
        &opts.selection,
    )?;
    let import_time = t0.elapsed();
    opts.progress.report(Stage::Import, 1, 1);
    let source = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (artifact, mut report) = compile_graph(graph, &source, opts)?;
    report.import_time = import_time;
    Ok((artifact, report))
}

/// Runs the pass pipeline of `opts.opt_level`, printing the IR after the passes named
/// in `opts.print_ir_after` to stderr.
pub fn optimize(graph: &mut Graph, source: &str, opts: &CompileOptions) -> Result<(), DriverError> {
    let mut sink = |pass: &str, g: &Graph| eprintln!("; IR after {pass}\n{g:#}");
    neoc_passes::optimize_with(
        graph,
        opts.opt_level,
        &opts.disabled_passes,
        &opts.print_ir_after,
        &mut sink,
    )
    .map_err(|e| match e {
        neoc_passes::PassError::Ir(e) => DriverError::Graph {
            file: source.to_string(),
            source: e,
        },
        e => DriverError::Usage(e.to_string()),
    })?;
    Ok(())
}

/// Compiles an imported graph. `source` names the model in messages and metadata.
pub fn compile_graph(
    mut graph: Graph,
    source: &str,
    opts: &CompileOptions,
) -> Result<(Artifact, CompileReport), DriverError> {
    let target = neoc_target_spec::lookup(&opts.target)?;
    let mut report = CompileReport::default();

    let t = Instant::now();
    if let Some(q) = &opts.quantize {
        // `x86_64` gains VNNI variants for int8 models (quantize::with_vnni_variant).
        let vnni = target.name == "x86_64" || target.levels.iter().any(|l| l.has_byte_dot());
        report.quantization = Some(quantize::apply(&mut graph, q, vnni)?);
    }
    report.nodes_before_passes = graph.node_count();
    opts.progress.report(Stage::Passes, 0, 1);
    optimize(&mut graph, source, opts)?;
    opts.progress.report(Stage::Passes, 1, 1);
    report.passes_time = t.elapsed();
    report.graph_nodes = graph.node_count();
    let target = quantize::with_vnni_variant(target, &graph);

    let t = Instant::now();
    let unit_of = |l: &neoc_target_spec::CpuLevel| neoc_kernel::VectorUnit {
        bits: l.vector_bits,
        registers: l.vector_registers,
        parallelism: l.parallel_iterations,
        signed_dot_bytes: l.signed_byte_dot(),
    };
    let first_unit = target.levels.first().map(unit_of).unwrap_or_default();
    let lowered = |done, total| opts.progress.report(Stage::Lowering, done, total);
    let planned = plan::plan_with_precision(&graph, source, first_unit, opts.precision, &lowered)?;
    report.lower_time = t.elapsed();
    report.steps = planned.artifact_plan.steps.len();
    report.unique_kernels = planned.module.kernels.len();
    report.arena_bytes = planned.artifact_plan.arena_size;
    report.naive_intermediate_bytes = planned.naive_bytes;
    report.weight_bytes = planned.weights.len() as u64;

    let t = Instant::now();
    let (levels, started) = (target.levels.len(), std::cell::Cell::new(0));
    let variants = codegen::generate(&target, opts.opt_level, |level| {
        opts.progress
            .report(Stage::Codegen, started.replace(started.get() + 1), levels);
        planned.module_for(&graph, source, unit_of(level))
    })?;
    opts.progress.report(Stage::Codegen, levels, levels);
    report.codegen_time = t.elapsed();
    report.variants = variants.iter().map(|v| v.name.clone()).collect();

    let artifact = Artifact {
        compiler_version: format!("neoc {}", env!("CARGO_PKG_VERSION")),
        target: neoc_artifact::TargetInfo {
            name: target.name.to_string(),
            arch: match target.arch {
                neoc_target_spec::Arch::X86_64 => neoc_artifact::Arch::X86_64,
                neoc_target_spec::Arch::Aarch64 => neoc_artifact::Arch::Aarch64,
                neoc_target_spec::Arch::Nvptx64 => neoc_artifact::Arch::Nvptx,
            },
            triple: target.triple.to_string(),
        },
        inputs: planned.inputs,
        outputs: planned.outputs,
        plan: planned.artifact_plan,
        variants,
        weights: planned.weights,
        metadata: vec![
            ("source".into(), source.to_string()),
            ("graph".into(), graph.name.clone()),
            ("opt_level".into(), opts.opt_level.to_string()),
            (
                NAIVE_INTERMEDIATE_BYTES.into(),
                report.naive_intermediate_bytes.to_string(),
            ),
        ],
    };
    let mut artifact = artifact;
    if opts.precision != neoc_kernel::Precision::F32 {
        artifact
            .metadata
            .push(("precision".into(), opts.precision.name().to_string()));
    }
    artifact.validate().map_err(|e| {
        DriverError::Internal(format!("the compiler produced an invalid artifact: {e}"))
    })?;
    Ok((artifact, report))
}
