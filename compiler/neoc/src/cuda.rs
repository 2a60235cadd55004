//! `neoc run` and `neoc bench` on artifacts of CUDA targets: they go to the CUDA executor
//! (`neoc-cuda`, which loads the NVIDIA driver at run time) instead of the CPU runtime.
//! The CPU path is untouched; `main.rs` only asks [`is_cuda`] first. `docs/cuda.md`.

use std::path::Path;
use std::time::Instant;

use neoc_cuda::CudaModel;
use neoc_runtime::TensorRef;

use crate::diag::Failure;
use crate::npy;

/// Whether `artifact` is a valid artifact of a CUDA target (anything else, including an
/// unreadable or damaged file, goes the CPU way, which reports it).
pub(crate) fn is_cuda(artifact: &Path) -> bool {
    std::fs::read(artifact).is_ok_and(|bytes| {
        neoc_artifact::Artifact::parse(&bytes)
            .is_ok_and(|v| v.target().arch == neoc_artifact::Arch::Nvptx)
    })
}

fn load(artifact: &Path) -> Result<CudaModel, Failure> {
    CudaModel::load(artifact).map_err(|e| Failure::runtime(e.to_string()))
}

/// `--input [NAME=]FILE.npy` arguments in signature order.
fn read_inputs(model: &CudaModel, args: &[String]) -> Result<Vec<npy::NpyTensor>, Failure> {
    let specs = model.inputs();
    let mut slots: Vec<Option<npy::NpyTensor>> = vec![None; specs.len()];
    for a in args {
        let (idx, file) = match a.split_once('=') {
            Some((n, f)) => (
                specs.iter().position(|s| s.name == n).ok_or_else(|| {
                    Failure::runtime(format!("the model has no input named \"{n}\""))
                })?,
                f,
            ),
            None if specs.len() == 1 => (0, a.as_str()),
            None => {
                return Err(Failure::runtime(format!(
                    "--input {a}: the model has {} inputs; name them as NAME=FILE.npy",
                    specs.len()
                )))
            }
        };
        slots[idx] = Some(npy::read(Path::new(file)).map_err(Failure::runtime)?);
    }
    slots
        .into_iter()
        .zip(specs)
        .map(|(t, s)| t.ok_or_else(|| Failure::runtime(format!("missing input \"{}\"", s.name))))
        .collect()
}

fn refs(tensors: &[npy::NpyTensor]) -> Vec<TensorRef<'_>> {
    tensors
        .iter()
        .map(|t| TensorRef::new(t.dtype, &t.shape, &t.data))
        .collect()
}

/// `neoc run` of a CUDA artifact.
pub(crate) fn run(
    artifact: &Path,
    inputs: &[String],
    output_dir: Option<&Path>,
    quiet: bool,
) -> Result<(), Failure> {
    let mut model = load(artifact)?;
    let tensors = read_inputs(&model, inputs)?;
    let outputs = model
        .run(&refs(&tensors))
        .map_err(|e| Failure::runtime(e.to_string()))?;
    if let Some(dir) = output_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    for (spec, t) in model.outputs().iter().zip(&outputs) {
        match output_dir {
            Some(dir) => {
                let path = dir.join(format!("{}.npy", crate::sanitize(&spec.name)));
                npy::write(&path, t.dtype(), t.shape(), t.as_bytes())?;
                if !quiet {
                    println!("{} {} -> {}", spec.name, spec.type_string(), path.display());
                }
            }
            None => {
                let head: Vec<String> = t
                    .as_f32()
                    .map(|v| v.iter().take(8).map(|x| format!("{x:.6}")).collect())
                    .unwrap_or_default();
                println!(
                    "{} {} = [{}]",
                    spec.name,
                    spec.type_string(),
                    head.join(", ")
                );
            }
        }
    }
    Ok(())
}

/// `neoc bench` of a CUDA artifact: inputs and outputs are copied every iteration.
pub(crate) fn bench(
    artifact: &Path,
    inputs: &[String],
    iterations: u32,
    warmup: u32,
    json: bool,
) -> Result<(), Failure> {
    let mut model = load(artifact)?;
    let tensors: Vec<npy::NpyTensor> = if inputs.is_empty() {
        model
            .inputs()
            .iter()
            .map(|s| npy::NpyTensor {
                dtype: s.dtype,
                shape: s.shape.clone(),
                data: vec![0u8; s.byte_len() as usize],
            })
            .collect()
    } else {
        read_inputs(&model, inputs)?
    };
    let refs = refs(&tensors);
    let err = |e: neoc_cuda::CudaError| Failure::runtime(e.to_string());
    for _ in 0..warmup {
        model.run(&refs).map_err(err)?;
    }
    let mut times = Vec::new();
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        model.run(&refs).map_err(err)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    if json {
        println!(
            "{{\"artifact\": {:?}, \"device\": {:?}, \"variant\": {:?}, \"iterations\": {}, \
             \"min_ms\": {:.4}, \"median_ms\": {:.4}, \"p90_ms\": {:.4}, \"max_ms\": {:.4}}}",
            artifact.display().to_string(),
            model.device_name(),
            model.variant(),
            times.len(),
            times[0],
            pct(0.5),
            pct(0.9),
            times[times.len() - 1]
        );
        return Ok(());
    }
    println!(
        "{}: {} iterations on {} (variant {}, {} kernel launches per run{})",
        artifact.display(),
        times.len(),
        model.device_name(),
        model.variant(),
        model.launches(),
        if model.uses_graphs() {
            ", replayed as a CUDA graph"
        } else {
            ""
        }
    );
    println!(
        "latency ms: min {:.3}  median {:.3}  p90 {:.3}  max {:.3}",
        times[0],
        pct(0.5),
        pct(0.9),
        times[times.len() - 1]
    );
    println!("throughput: {:.1} inferences/s", 1e3 / pct(0.5));
    Ok(())
}
