//! `neoc`: the command-line interface. Thin by design: argument parsing, progress and
//! diagnostics; the work happens in `neoc-driver` (compiling) and `neoc-runtime`
//! (running).
//!
//! Exit codes: see [`diag::Exit`] and the table in docs/cli.md (0 success, 1 model or
//! compile error, 2 bad usage, 3 an artifact that cannot be loaded or run).

mod bench_profile;
mod check;
mod cuda;
mod diag;
mod hints;
mod inspect;
mod npy;
mod precision;
mod progress;
mod quant;
mod roofline;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueHint};
use diag::Failure;
use neoc_runtime::{Model, TensorRef};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "neoc",
    version,
    about = "Compile trained neural networks ahead of time, and run them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print nothing but errors and results: no progress, no summaries.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    /// Colour in messages: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = diag::ColorChoice::Auto, global = true)]
    color: diag::ColorChoice,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compile a model (ONNX, torch.export .pt2, TorchScript .pt, TensorFlow frozen .pb or
    /// SavedModel directory, MXNet -symbol.json) into a one-file artifact.
    Compile {
        /// The model file (.onnx, .pt2, .pt, .pb, -symbol.json) or SavedModel directory.
        #[arg(value_hint = ValueHint::AnyPath)]
        model: PathBuf,
        /// The model's framework (onnx, pytorch, tensorflow, mxnet); detected when omitted.
        #[arg(long)]
        framework: Option<String>,
        /// The SavedModel signature to compile (default serving_default).
        #[arg(long)]
        signature: Option<String>,
        /// A frozen graph's outputs, comma-separated node names (default: the nodes
        /// nothing reads).
        #[arg(long, value_delimiter = ',')]
        outputs: Vec<String>,
        /// An MXNet model's parameters file (default: the newest <prefix>-NNNN.params
        /// beside the symbol).
        #[arg(long, value_hint = ValueHint::FilePath)]
        params: Option<PathBuf>,
        /// Target to compile for (see `neoc targets`).
        #[arg(long, short = 't', default_value = "x86_64")]
        target: String,
        /// Output artifact path (default: the model's name with .neo).
        #[arg(long, short = 'o', value_hint = ValueHint::FilePath)]
        output: Option<PathBuf>,
        /// Optimisation level 0-3.
        #[arg(long = "opt-level", short = 'O', default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=3))]
        opt_level: u8,
        /// Fix an input's shape: NAME=D0,D1,... (repeatable).
        #[arg(long = "input-shape", value_name = "NAME=DIMS")]
        input_shapes: Vec<String>,
        /// Bind an input to a constant value from a .npy file, e.g. the `sizes` of a
        /// Resize a model takes as an input (repeatable).
        #[arg(long = "constant-input", value_name = "NAME=FILE.npy")]
        constant_inputs: Vec<String>,
        /// Skip a graph pass by name (repeatable).
        #[arg(long = "disable-pass", value_name = "PASS")]
        disabled_passes: Vec<String>,
        /// Print the graph IR to stderr after a pass (repeatable).
        #[arg(long = "print-ir-after", value_name = "PASS")]
        print_ir_after: Vec<String>,
        #[command(flatten)]
        quant: Box<quant::QuantArgs>,
        #[command(flatten)]
        precision: Box<precision::PrecisionArgs>,
    },
    /// Run a compiled artifact on .npy inputs.
    Run {
        /// The artifact (.neo).
        #[arg(value_hint = ValueHint::FilePath)]
        artifact: PathBuf,
        /// An input: NAME=FILE.npy (repeatable; with one input, FILE.npy alone works).
        #[arg(long = "input", short = 'i', value_name = "NAME=FILE")]
        inputs: Vec<String>,
        /// Write each output to DIR/<output name>.npy.
        #[arg(long = "output-dir", value_hint = ValueHint::DirPath)]
        output_dir: Option<PathBuf>,
        /// Threads that split each parallel kernel (0: one per CPU).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Time repeated runs of an artifact (random inputs unless given).
    Bench {
        #[arg(value_hint = ValueHint::FilePath)]
        artifact: PathBuf,
        #[arg(long = "input", short = 'i', value_name = "NAME=FILE")]
        inputs: Vec<String>,
        #[arg(long, default_value_t = 20)]
        iterations: u32,
        #[arg(long, default_value_t = 3)]
        warmup: u32,
        /// Threads that split each parallel kernel (0: one per CPU).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Also print the time per kernel call (plan step), its share, and the graph
        /// nodes it computes, slowest first.
        #[arg(long)]
        profile: bool,
        /// Print one JSON object (latencies, every sample, and with --profile the steps)
        /// instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Describe a model (.onnx) or an artifact (.neo).
    Inspect {
        #[arg(value_hint = ValueHint::FilePath)]
        file: PathBuf,
        /// Print the graph IR after the optimisation pipeline (models only).
        #[arg(long)]
        ir: bool,
        /// Print the kernel IR of every kernel (models only).
        #[arg(long)]
        kernels: bool,
        /// Write a Graphviz file of the graph after the pipeline (fused groups as
        /// clusters); with --dot-before-passes, of the graph as imported.
        #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
        dot: Option<PathBuf>,
        #[arg(long = "dot-before-passes")]
        dot_before_passes: bool,
        /// Optimisation level of the pipeline that --ir/--kernels/--dot show.
        #[arg(long = "opt-level", short = 'O', default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=3))]
        opt_level: u8,
        /// Print one JSON object (schema in docs/cli.md) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List everything in a model that neoc cannot compile, all at once (exit status 0
    /// when the whole model compiles, 1 when something does not).
    Check {
        /// The model file (.onnx).
        #[arg(value_hint = ValueHint::AnyPath)]
        model: PathBuf,
        /// Target to check against (see `neoc targets`).
        #[arg(long, short = 't', default_value = "x86_64")]
        target: String,
        /// Fix an input's shape: NAME=D0,D1,... (repeatable).
        #[arg(long = "input-shape", value_name = "NAME=DIMS")]
        input_shapes: Vec<String>,
        /// Bind an input to a constant value from a .npy file (repeatable).
        #[arg(long = "constant-input", value_name = "NAME=FILE.npy")]
        constant_inputs: Vec<String>,
    },
    /// List the target names `--target` accepts.
    Targets,
    /// Measure this CPU's peak fp32 FMA throughput and neoc's SGEMM against it.
    Roofline {
        /// Threads for the "all cores" rows (0: one per CPU).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Print a shell completion script (e.g. `neoc completions bash > ~/.local/share/bash-completion/completions/neoc`).
    Completions {
        /// bash, zsh, fish, powershell or elvish.
        shell: clap_complete::Shell,
    },
}

/// Output piped into a reader that stops early (`neoc inspect m.onnx --ir | head`) ends
/// the process quietly, as it does for other command-line tools: Rust ignores SIGPIPE
/// by default, which turns the failed write into a panic.
fn quiet_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    let cli = parse_args();
    let color = cli.color.enabled();
    let quiet = cli.quiet;
    let result = match cli.command {
        Command::Compile {
            model,
            framework,
            signature,
            outputs,
            params,
            target,
            output,
            opt_level,
            input_shapes,
            constant_inputs,
            disabled_passes,
            print_ir_after,
            quant,
            precision,
        } => compile(
            &model,
            CompileArgs {
                framework,
                selection: neoc_driver::ModelSelection {
                    signature,
                    outputs,
                    params,
                },
                target,
                output,
                opt_level,
                input_shapes,
                constant_inputs,
                disabled_passes,
                print_ir_after,
                quant,
                precision,
            },
            quiet,
        ),
        Command::Run {
            artifact,
            inputs,
            output_dir,
            threads,
        } => run(&artifact, &inputs, output_dir.as_deref(), threads, quiet),
        Command::Bench {
            artifact,
            inputs,
            iterations,
            warmup,
            threads,
            profile,
            json,
        } => bench(
            &artifact,
            &inputs,
            BenchOptions {
                iterations,
                warmup,
                threads,
                profile,
                json,
            },
        ),
        Command::Inspect {
            file,
            ir,
            kernels,
            dot,
            dot_before_passes,
            opt_level,
            json,
        } => inspect::inspect(
            &file,
            inspect::InspectArgs {
                ir,
                kernels,
                dot: dot.as_deref(),
                dot_before_passes,
                opt_level,
                json,
                quiet,
            },
        ),
        Command::Check {
            model,
            target,
            input_shapes,
            constant_inputs,
        } => match check::check(&model, target, &input_shapes, &constant_inputs) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(diag::Exit::Model as u8),
            Err(e) => Err(e),
        },
        Command::Targets => {
            targets();
            Ok(())
        }
        Command::Roofline { threads } => roofline::roofline(threads).map_err(Failure::from),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "neoc", &mut std::io::stdout());
            Ok(())
        }
    };
    diag::finish(result, color)
}

/// Parses the command line, with the parser's own messages coloured as `--color` says
/// (it is read before the rest, so that a usage error obeys it too). Usage errors exit 2.
fn parse_args() -> Cli {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut choice = diag::ColorChoice::Auto;
    for (i, a) in args.iter().enumerate() {
        let a = a.to_string_lossy();
        let value = match a.strip_prefix("--color=") {
            Some(v) => Some(v.to_string()),
            None if a == "--color" => args.get(i + 1).map(|v| v.to_string_lossy().into_owned()),
            None => None,
        };
        if let Some(v) =
            value.and_then(|v| <diag::ColorChoice as clap::ValueEnum>::from_str(&v, true).ok())
        {
            choice = v;
        }
    }
    let color = match (choice, choice.enabled()) {
        (diag::ColorChoice::Auto, false) => clap::ColorChoice::Never,
        (c, _) => c.for_clap(),
    };
    let matches = Cli::command().color(color).get_matches_from(args);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

pub(crate) fn parse_shape(s: &str) -> Result<(String, Vec<u64>), String> {
    let (name, dims) = s.split_once('=').ok_or_else(|| {
        format!("--input-shape `{s}`: expected NAME=D0,D1,... e.g. input=1,3,224,224")
    })?;
    let dims = dims
        .split(',')
        .map(|d| d.trim().parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("--input-shape `{s}`: dimensions must be non-negative integers"))?;
    Ok((name.to_string(), dims))
}

/// The options of `neoc compile`.
struct CompileArgs {
    framework: Option<String>,
    selection: neoc_driver::ModelSelection,
    target: String,
    output: Option<PathBuf>,
    opt_level: u8,
    input_shapes: Vec<String>,
    constant_inputs: Vec<String>,
    disabled_passes: Vec<String>,
    print_ir_after: Vec<String>,
    quant: Box<quant::QuantArgs>,
    precision: Box<precision::PrecisionArgs>,
}

/// `NAME=FILE.npy` of `--constant-input` as a graph-IR tensor.
pub(crate) fn parse_constant(s: &str) -> Result<(String, neoc_ir::Tensor), String> {
    let Some((name, file)) = s.split_once('=') else {
        return Err(format!("--constant-input `{s}`: expected NAME=FILE.npy"));
    };
    let t = npy::read(Path::new(file))?;
    let dtype = neoc_driver::ir_dtype(t.dtype);
    let tensor = neoc_ir::Tensor::from_bytes(dtype, t.shape, t.data.into())
        .map_err(|e| format!("--constant-input {name}: {e:?}"))?;
    Ok((name.to_string(), tensor))
}

fn compile(model: &Path, mut args: CompileArgs, quiet: bool) -> Result<(), Failure> {
    let input_shapes = args
        .input_shapes
        .iter()
        .map(|s| parse_shape(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::usage)?;
    let constant_inputs = args
        .constant_inputs
        .iter()
        .map(|s| parse_constant(s))
        .collect::<Result<Vec<_>, _>>()?;
    let output = args.output;
    let status = progress::StatusLine::stderr(quiet);
    let precision = args.precision.precision()?;
    let (precision_report, precision_samples) = match precision {
        neoc_kernel::Precision::F32 => (None, None),
        _ => (
            args.quant.take_report_without_quantize(),
            args.quant.take_calibration_without_quantize(),
        ),
    };
    let opts = neoc_driver::CompileOptions {
        target: args.target,
        opt_level: args.opt_level,
        input_shapes,
        constant_inputs,
        disabled_passes: args.disabled_passes,
        print_ir_after: args.print_ir_after,
        selection: args.selection,
        progress: status.callback(),
        quantize: args.quant.options()?,
        precision,
    };
    let start = Instant::now();
    let driver_err = |e| {
        status.clear();
        hints::driver(e, model)
    };
    let (artifact, report) = match args.framework.as_deref() {
        None => neoc_driver::compile_file(model, &opts).map_err(driver_err)?,
        Some(name) => {
            let framework = neoc_driver::Framework::from_name(name).ok_or_else(|| {
                Failure::usage(format!(
                    "--framework `{name}`: expected onnx, pytorch, tensorflow or mxnet"
                ))
            })?;
            let t = Instant::now();
            opts.progress.report(neoc_driver::Stage::Import, 0, 1);
            let graph = neoc_driver::frontend::import_with(
                model,
                Some(framework),
                &opts.input_shapes,
                &opts.constant_inputs,
                &opts.selection,
            )
            .map_err(driver_err)?;
            let import_time = t.elapsed();
            opts.progress.report(neoc_driver::Stage::Import, 1, 1);
            let source = model.file_name().map(|s| s.to_string_lossy().into_owned());
            let (a, mut r) = neoc_driver::compile_graph(graph, &source.unwrap_or_default(), &opts)
                .map_err(driver_err)?;
            r.import_time = import_time;
            (a, r)
        }
    };
    quant::print(&report);
    if opts.precision != neoc_kernel::Precision::F32 && args.precision.wants_report() {
        status.clear();
        let source = model.file_name().map(|s| s.to_string_lossy().into_owned());
        let again = |o: &neoc_driver::CompileOptions| {
            let fw = args
                .framework
                .as_deref()
                .and_then(neoc_driver::Framework::from_name);
            neoc_driver::frontend::import_with(
                model,
                fw,
                &o.input_shapes,
                &o.constant_inputs,
                &o.selection,
            )
            .and_then(|g| neoc_driver::compile_graph(g, source.as_deref().unwrap_or(""), o))
            .map(|(a, _)| a)
            .map_err(|e| hints::driver(e, model))
        };
        let samples = match &precision_samples {
            Some(dir) => {
                let fw = args
                    .framework
                    .as_deref()
                    .and_then(neoc_driver::Framework::from_name);
                let g = neoc_driver::frontend::import_with(
                    model,
                    fw,
                    &opts.input_shapes,
                    &opts.constant_inputs,
                    &opts.selection,
                )
                .and_then(|g| neoc_driver::quantize::load_samples(&g, dir))
                .map_err(|e| hints::driver(e, model))?;
                Some(g)
            }
            None => None,
        };
        let text = precision::report(&opts, &artifact, samples.as_deref(), again)?;
        eprint!("{text}");
        if let Some(path) = &precision_report {
            std::fs::write(path, &text).map_err(|e| format!("--report {}: {e}", path.display()))?;
        }
    }
    let out = output.unwrap_or_else(|| model.with_extension("neo"));
    status.writing();
    let written = artifact.write_to(&out);
    status.clear();
    written.map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    if !quiet {
        let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        println!(
            "compiled {} -> {} ({}) in {:.2}s",
            model.display(),
            out.display(),
            neoc_driver::inspect::human_bytes(size),
            start.elapsed().as_secs_f64()
        );
        println!(
            "  import {:.2}s, passes {:.2}s, lowering {:.2}s, codegen {:.2}s",
            report.import_time.as_secs_f64(),
            report.passes_time.as_secs_f64(),
            report.lower_time.as_secs_f64(),
            report.codegen_time.as_secs_f64()
        );
        println!(
            "  {} graph nodes ({} before passes), {} steps, {} unique kernels, variants: {}",
            report.graph_nodes,
            report.nodes_before_passes,
            report.steps,
            report.unique_kernels,
            report.variants.join(", ")
        );
        println!(
            "  weights {}, arena {} (naive {})",
            neoc_driver::inspect::human_bytes(report.weight_bytes),
            neoc_driver::inspect::human_bytes(report.arena_bytes),
            neoc_driver::inspect::human_bytes(report.naive_intermediate_bytes)
        );
    }
    Ok(())
}

/// Reads `--input` arguments into tensors matched to the model's inputs by name; an
/// input that does not fit the artifact is a runtime failure (exit 3).
fn read_inputs(model: &Model, args: &[String]) -> Result<Vec<npy::NpyTensor>, Failure> {
    read_inputs_inner(model, args).map_err(|f| Failure {
        code: diag::Exit::Runtime,
        ..f
    })
}

fn read_inputs_inner(model: &Model, args: &[String]) -> Result<Vec<npy::NpyTensor>, Failure> {
    let specs = model.inputs();
    let mut slots: Vec<Option<npy::NpyTensor>> = vec![None; specs.len()];
    for a in args {
        let (name, file) = match a.split_once('=') {
            Some((n, f)) => (Some(n), f),
            None => (None, a.as_str()),
        };
        let idx = match name {
            Some(n) => specs.iter().position(|s| s.name == n).ok_or_else(|| {
                format!(
                    "{}: the model has no input named \"{n}\"; its inputs are: {}",
                    model.file(),
                    specs
                        .iter()
                        .map(|s| format!("\"{}\"", s.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?,
            None if specs.len() == 1 => 0,
            None => {
                return Err(Failure::from(format!(
                    "--input {a}: the model has {} inputs; name them as NAME=FILE.npy",
                    specs.len()
                )))
            }
        };
        let t = npy::read(Path::new(file)).map_err(|e| {
            let f = Failure::from(e);
            if Path::new(file).exists() {
                f
            } else {
                f.with_hint(format!("there is no file at {file}; check the path"))
            }
        })?;
        slots[idx] = Some(t);
    }
    slots
        .into_iter()
        .zip(specs)
        .map(|(t, s)| {
            t.ok_or_else(|| {
                Failure::from(format!(
                    "missing input \"{}\" ({}): pass --input {}=FILE.npy",
                    s.name,
                    s.type_string(),
                    s.name
                ))
            })
        })
        .collect()
}

fn run(
    artifact: &Path,
    inputs: &[String],
    output_dir: Option<&Path>,
    threads: usize,
    quiet: bool,
) -> Result<(), Failure> {
    if cuda::is_cuda(artifact) {
        return cuda::run(artifact, inputs, output_dir, quiet);
    }
    let runtime_err = |e| hints::runtime(e, artifact);
    let model = Model::load(artifact).map_err(runtime_err)?;
    let tensors = read_inputs(&model, inputs)?;
    let refs: Vec<TensorRef<'_>> = tensors
        .iter()
        .map(|t| TensorRef::new(t.dtype, &t.shape, &t.data))
        .collect();
    let mut ctx = model
        .new_context_with_threads(threads)
        .map_err(runtime_err)?;
    let outputs = ctx.run(&model, &refs).map_err(runtime_err)?;
    if let Some(dir) = output_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    for (spec, t) in model.outputs().iter().zip(&outputs) {
        match output_dir {
            Some(dir) => {
                let path = dir.join(format!("{}.npy", sanitize(&spec.name)));
                npy::write(&path, t.dtype(), t.shape(), t.as_bytes())?;
                if !quiet {
                    println!("{} {} -> {}", spec.name, spec.type_string(), path.display());
                }
            }
            None => {
                let preview = match t.as_f32() {
                    Some(v) => {
                        let head: Vec<String> =
                            v.iter().take(8).map(|x| format!("{x:.6}")).collect();
                        format!(
                            "[{}{}]",
                            head.join(", "),
                            if v.len() > 8 { ", ..." } else { "" }
                        )
                    }
                    None => format!("{} bytes", t.as_bytes().len()),
                };
                println!("{} {} = {preview}", spec.name, spec.type_string());
            }
        }
    }
    Ok(())
}

/// A file-name-safe version of a tensor name.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

struct BenchOptions {
    iterations: u32,
    warmup: u32,
    threads: usize,
    profile: bool,
    json: bool,
}

fn bench(artifact: &Path, inputs: &[String], opts: BenchOptions) -> Result<(), Failure> {
    let BenchOptions {
        iterations,
        warmup,
        threads,
        profile,
        json,
    } = opts;
    if cuda::is_cuda(artifact) {
        return cuda::bench(artifact, inputs, iterations, warmup, json);
    }
    let runtime_err = |e| hints::runtime(e, artifact);
    let model = Model::load(artifact).map_err(runtime_err)?;
    let tensors: Vec<npy::NpyTensor> = if inputs.is_empty() {
        model
            .inputs()
            .iter()
            .map(|s| {
                // Deterministic pseudo-random bytes; for float inputs, values in [-1, 1).
                let n = s.num_elements() as usize;
                let mut state = 0x9e37_79b9_7f4a_7c15u64;
                let mut next = || {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state
                };
                let data: Vec<u8> = match s.dtype {
                    neoc_artifact::DType::F32 => (0..n)
                        .flat_map(|_| {
                            (((next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0)
                                .to_le_bytes()
                        })
                        .collect(),
                    _ => vec![0u8; s.byte_len() as usize],
                };
                npy::NpyTensor {
                    dtype: s.dtype,
                    shape: s.shape.clone(),
                    data,
                }
            })
            .collect()
    } else {
        read_inputs(&model, inputs)?
    };
    let refs: Vec<TensorRef<'_>> = tensors
        .iter()
        .map(|t| TensorRef::new(t.dtype, &t.shape, &t.data))
        .collect();
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let mut ctx = model
        .new_context_with_threads(threads)
        .map_err(runtime_err)?;
    for _ in 0..warmup {
        ctx.run(&model, &refs).map_err(runtime_err)?;
    }
    ctx.set_profiling(profile);
    let mut samples = Vec::with_capacity(iterations as usize);
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        ctx.run(&model, &refs).map_err(runtime_err)?;
        samples.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mut times = samples.clone();
    times.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let variant = model.variant().map_or("-", |v| v.name.as_str());
    let steps = bench_profile::rows(&model, ctx.step_times(), samples.len());
    if json {
        println!(
            "{}",
            bench_profile::json(
                &artifact.display().to_string(),
                threads,
                variant,
                &samples,
                [times[0], pct(0.5), pct(0.9), times[times.len() - 1]],
                &steps
            )
        );
        return Ok(());
    }
    println!(
        "{}: {} iterations, {threads} thread(s), variant {variant}",
        artifact.display(),
        times.len(),
    );
    println!(
        "latency ms: min {:.3}  median {:.3}  p90 {:.3}  max {:.3}",
        times[0],
        pct(0.5),
        pct(0.9),
        times[times.len() - 1]
    );
    println!("throughput: {:.1} inferences/s", 1e3 / pct(0.5));
    if profile {
        print!("{}", bench_profile::table(&steps));
    }
    Ok(())
}

fn targets() {
    println!("targets (use with --target):");
    for t in neoc_target_spec::all() {
        let aliases = neoc_target_spec::aliases_of(t.name);
        println!("  {:<20} {}", t.name, t.description);
        let levels: Vec<String> = t
            .levels
            .iter()
            .map(|l| {
                format!(
                    "{} (cpu {}; needs {})",
                    l.name,
                    l.llvm_cpu,
                    l.required_features.join(",")
                )
            })
            .collect();
        println!("  {:<20} code variants: {}", "", levels.join(", "));
        if !aliases.is_empty() {
            println!("  {:<20} aliases: {}", "", aliases.join(", "));
        }
    }
    println!(
        "  {:<20} the best single-level target for this machine (here: {})",
        "host",
        neoc_target_spec::host_target_name()
    );
}
