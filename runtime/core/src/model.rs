//! [`Model`]: a loaded, validated, immutable artifact with its code resolved; and
//! [`Context`]: the per-caller scratch arena with which a model runs.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use neoc_artifact::{
    Artifact, ArtifactError, ArtifactView, BufferRef, KernelInfo, Plan, TargetInfo, TensorSpec,
    WeightsChecksum, HEADER_LEN,
};

use crate::code::{KernelFn, LoadedCode};
use crate::cpu::{self, HostFeatures};
use crate::pool::Pool;
use crate::tensor::{AlignedBuf, BUFFER_ALIGN};
use crate::{Result, RuntimeError, Tensor, TensorMut, TensorRef};

/// Where the weights live: in the mapped file, or in an aligned copy.
enum Storage {
    Mapped(memmap2::Mmap),
    Owned(AlignedBuf),
}

/// The code variant a model runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedVariant {
    /// Position in the artifact's variant list (0 = best).
    pub index: usize,
    pub name: String,
    pub cpu: String,
    pub required_features: Vec<String>,
}

/// A loaded model: immutable, `Send + Sync`, shareable across threads (e.g. in an `Arc`).
/// Each concurrent run needs its own [`Context`]; [`Model::run`] makes a fresh one.
pub struct Model {
    file: String,
    path: Option<PathBuf>,
    compiler_version: String,
    target: TargetInfo,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    plan: Plan,
    metadata: Vec<(String, String)>,
    variant: Option<SelectedVariant>,
    /// `kernels[i]` implements `plan.kernels[i]`; valid while `code` is loaded.
    kernels: Vec<KernelFn>,
    /// Declared after `kernels`: dropped (unloaded) after nothing can call them.
    _code: Option<LoadedCode>,
    storage: Storage,
    weights_offset: usize,
    weights_len: usize,
    /// The weights' recorded checksum, verified once on first use (see [`Model::load`]).
    weights_checksum: WeightsChecksum,
    weights_verified: OnceLock<std::result::Result<(), ArtifactError>>,
}

/// When [`Model::build`] verifies the weights' checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weights {
    CheckNow,
    CheckOnFirstUse,
}

/// The parts of a view that outlive it.
struct Parts {
    model: Model,
    weights_offset: usize,
    weights_len: usize,
}

const IN_MEMORY: &str = "<in-memory artifact>";

impl Model {
    /// Maps the file at `path`, validates it, checks that this machine can run it, and
    /// loads the best code variant its CPU supports.
    ///
    /// The file is memory-mapped, and the weights are used in place: it must not be modified
    /// while the model is loaded. Loading does not read the weights: their structure and
    /// size are checked here (a truncated file is refused), but their checksum, which means
    /// reading every page, is verified once on the first run (which reads them anyway) or
    /// by [`Model::verify`]. So a resnet50 artifact loads in milliseconds even when the
    /// file is not in the page cache; a corrupted weight fails the first run with the same
    /// "checksum mismatch in section WEIGHTS" error, never a wrong answer.
    ///
    /// ```
    /// use neoc_runtime::{DType, Model};
    /// # fn npy(rel: &str) -> Vec<f32> {
    /// #     let path = format!("{}/../../testmodels/models/mlp/{rel}", env!("CARGO_MANIFEST_DIR"));
    /// #     let bytes = std::fs::read(&path).expect(&path);
    /// #     npyz::NpyFile::new(&bytes[..]).and_then(|f| f.into_vec()).expect(&path)
    /// # }
    /// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testmodels/artifacts/mlp_x86_64.neo");
    /// let model = Model::load(path)?;
    /// assert_eq!(model.target().name, "x86_64");
    /// let input = &model.inputs()[0];
    /// assert_eq!((input.name.as_str(), input.dtype, &input.shape[..]), ("input", DType::F32, &[4, 64][..]));
    /// // The best code variant this CPU runs (AVX-512 or AVX2 for this artifact).
    /// let variant = model.variant().map(|v| v.name.as_str());
    /// assert!(matches!(variant, Some("avx512" | "avx2")), "{variant:?}");
    ///
    /// // A missing file is an error naming it, not a panic.
    /// let err = Model::load("no/such/model.neo").unwrap_err();
    /// assert!(err.to_string().starts_with("cannot read no/such/model.neo"), "{err}");
    /// # Ok::<(), neoc_runtime::RuntimeError>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let io = |source| RuntimeError::Io {
            file: file.clone(),
            source,
        };
        let f = File::open(path).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        if len < HEADER_LEN as u64 {
            // Too short to map usefully; read it so the parser names the problem.
            let bytes = std::fs::read(path).map_err(io)?;
            return Self::from_vec_named(bytes, file, Some(path.to_path_buf()));
        }
        // SAFETY: the mapping is read-only; the contract above forbids modifying the file
        // while it is mapped.
        let map = unsafe { memmap2::Mmap::map(&f) }.map_err(io)?;
        let parts = Self::build(
            &map,
            &file,
            Some(path.to_path_buf()),
            Weights::CheckOnFirstUse,
        )?;
        Ok(parts.finish(Storage::Mapped(map)))
    }

    /// Verifies the weights against their checksum now, if that has not been done yet
    /// (it happens at the latest on the first run, see [`Model::load`]); for callers that
    /// want a corrupted file refused at start-up rather than on first use.
    ///
    /// ```
    /// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testmodels/artifacts/mlp_x86_64.neo");
    /// let model = neoc_runtime::Model::load(path)?;
    /// model.verify()?;
    /// # Ok::<(), neoc_runtime::RuntimeError>(())
    /// ```
    pub fn verify(&self) -> Result<()> {
        let checked = self
            .weights_verified
            .get_or_init(|| self.weights_checksum.verify(self.weights_bytes()));
        checked.clone().map_err(|source| RuntimeError::Artifact {
            file: self.file.clone(),
            source: Box::new(source),
        })
    }

    /// Loads an artifact held in memory. The weights are copied into an aligned buffer.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Model> {
        Self::from_vec_named(bytes, IN_MEMORY.to_string(), None)
    }

    fn from_vec_named(bytes: Vec<u8>, file: String, path: Option<PathBuf>) -> Result<Model> {
        // The weights are about to be read to copy them: check them now, with the rest.
        let mut parts = Self::build(&bytes, &file, path, Weights::CheckNow)?;
        let weights = &bytes[parts.weights_offset..parts.weights_offset + parts.weights_len];
        let buf = AlignedBuf::copy_of(weights)?;
        parts.weights_offset = 0;
        Ok(parts.finish(Storage::Owned(buf)))
    }

    fn build(bytes: &[u8], file: &str, path: Option<PathBuf>, weights: Weights) -> Result<Parts> {
        let artifact_error = |source| RuntimeError::Artifact {
            file: file.to_string(),
            source: Box::new(source),
        };
        let view = Artifact::parse_deferring_weights(bytes).map_err(artifact_error)?;
        let weights_verified = OnceLock::new();
        if weights == Weights::CheckNow {
            view.verify_weights().map_err(artifact_error)?;
            let _ = weights_verified.set(Ok(()));
        }
        let target = view.target().clone();
        if target.arch == neoc_artifact::Arch::Nvptx {
            return Err(RuntimeError::CudaArtifact {
                file: file.to_string(),
                target: target.name,
            });
        }
        if cpu::host_arch() != Some(target.arch) {
            return Err(RuntimeError::WrongArch {
                file: file.to_string(),
                target: target.name,
                arch: target.arch,
                host: cpu::host_arch_name(),
            });
        }
        let (variant, code, kernels) = load_code(&view, file)?;
        let weights_offset = to_usize(view.weights_file_offset(), "weights")?;
        let weights_len = view.weights().len();
        Ok(Parts {
            model: Model {
                file: file.to_string(),
                path,
                compiler_version: view.compiler_version().to_string(),
                target,
                inputs: view.inputs().to_vec(),
                outputs: view.outputs().to_vec(),
                plan: view.plan().clone(),
                metadata: view.metadata().to_vec(),
                variant,
                kernels,
                _code: code,
                storage: Storage::Owned(AlignedBuf::zeroed(0)?),
                weights_offset: 0,
                weights_len: 0,
                weights_checksum: view.weights_checksum(),
                weights_verified,
            },
            weights_offset,
            weights_len,
        })
    }

    /// A fresh single-threaded execution context: a zeroed, 64-byte-aligned arena of the
    /// plan's size.
    pub fn new_context(&self) -> Result<Context> {
        self.new_context_with_threads(1)
    }

    /// A fresh execution context that splits each parallel kernel into `threads` tasks
    /// run by its own pool of `threads - 1` worker threads plus the calling thread
    /// (`0` means one per available CPU). Results do not depend on the thread count
    /// for the kernels neoc marks parallel: their tasks write disjoint outputs.
    pub fn new_context_with_threads(&self, threads: usize) -> Result<Context> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        Ok(Context {
            arena: AlignedBuf::zeroed_u64(self.plan.arena_size, "arena")?,
            pool: Pool::new(threads),
            profile: None,
        })
    }

    /// Runs the model on `inputs` (in signature order) with a fresh single-threaded
    /// context. For repeated or multi-threaded runs, keep a [`Context`]
    /// ([`Model::new_context_with_threads`]) and use [`Context::run`].
    pub fn run(&self, inputs: &[TensorRef<'_>]) -> Result<Vec<Tensor>> {
        self.new_context()?.run(self, inputs)
    }

    /// Like [`Model::run`], with inputs given by name in any order.
    ///
    /// ```
    /// # use neoc_runtime::{Model, TensorRef};
    /// # fn npy(rel: &str) -> Vec<f32> {
    /// #     let path = format!("{}/../../testmodels/models/mlp/{rel}", env!("CARGO_MANIFEST_DIR"));
    /// #     let bytes = std::fs::read(&path).expect(&path);
    /// #     npyz::NpyFile::new(&bytes[..]).and_then(|f| f.into_vec()).expect(&path)
    /// # }
    /// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testmodels/artifacts/mlp_x86_64.neo");
    /// let model = Model::load(path)?;
    /// let x = npy("inputs/input.npy");
    /// let out = model.run_named(&[("input", TensorRef::f32(&[4, 64], &x))])?;
    /// let want = npy("expected/output.npy");
    /// let y = out[0].as_f32().unwrap_or_default();
    /// assert!(y.len() == want.len() && y.iter().zip(&want).all(|(g, w)| (g - w).abs() <= 1e-5 + 1e-4 * w.abs()));
    ///
    /// // An unknown name is refused with the model's input names.
    /// let err = model.run_named(&[("image", TensorRef::f32(&[4, 64], &x))]).unwrap_err();
    /// assert!(err.to_string().contains("\"image\""), "{err}");
    /// # Ok::<(), neoc_runtime::RuntimeError>(())
    /// ```
    pub fn run_named(&self, inputs: &[(&str, TensorRef<'_>)]) -> Result<Vec<Tensor>> {
        self.new_context()?.run_named(self, inputs)
    }

    /// How the model is named in errors: its path, or `<in-memory artifact>`.
    pub fn file(&self) -> &str {
        &self.file
    }
    /// The path it was loaded from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
    pub fn compiler_version(&self) -> &str {
        &self.compiler_version
    }
    pub fn target(&self) -> &TargetInfo {
        &self.target
    }
    pub fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }
    pub fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }
    pub fn plan(&self) -> &Plan {
        &self.plan
    }
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }
    /// The code variant chosen for this CPU (`None` when the plan has no kernels).
    pub fn variant(&self) -> Option<&SelectedVariant> {
        self.variant.as_ref()
    }

    fn weights_bytes(&self) -> &[u8] {
        let base = match &self.storage {
            Storage::Mapped(m) => &m[..],
            Storage::Owned(b) => b.as_slice(),
        };
        // In bounds: the parser checked the weights section lies within the file, and an
        // owned copy starts at offset 0.
        base.get(self.weights_offset..self.weights_offset + self.weights_len)
            .unwrap_or_default()
    }

    fn weights_ptr(&self) -> *const u8 {
        let base = match &self.storage {
            Storage::Mapped(m) => m.as_ptr(),
            Storage::Owned(b) => b.as_ptr(),
        };
        // In bounds: the parser checked the weights section lies within the file, and an
        // owned copy starts at offset 0.
        base.wrapping_add(self.weights_offset)
    }

    fn input_error(&self, input: &TensorSpec, found: &TensorRef<'_>) -> Option<RuntimeError> {
        if found.dtype != input.dtype || found.shape != input.shape.as_slice() {
            return Some(RuntimeError::InputMismatch {
                file: self.file.clone(),
                input: input.name.clone(),
                expected: input.type_string(),
                found: found.type_string(),
            });
        }
        let expected = input.byte_len();
        if found.expected_len() != Some(expected) || found.data.len() as u64 != expected {
            return Some(RuntimeError::InputSize {
                file: self.file.clone(),
                input: input.name.clone(),
                ty: input.type_string(),
                expected,
                found: found.data.len() as u64,
            });
        }
        None
    }
}

impl Parts {
    fn finish(mut self, storage: Storage) -> Model {
        self.model.storage = storage;
        self.model.weights_offset = self.weights_offset;
        self.model.weights_len = self.weights_len;
        self.model
    }
}

type LoadedVariant = (Option<SelectedVariant>, Option<LoadedCode>, Vec<KernelFn>);

/// Picks the first variant the host supports, loads it and resolves every kernel.
fn load_code(view: &ArtifactView<'_>, file: &str) -> Result<LoadedVariant> {
    if view.plan().kernels.is_empty() {
        return Ok((None, None, Vec::new()));
    }
    let host = HostFeatures::detect();
    let variants = view.variants();
    let Some(index) = variants
        .iter()
        .position(|v| cpu::missing(&v.required_features, &host).is_empty())
    else {
        // Report the variant needing the fewest missing features (the last on ties: the
        // compiler lists best first, so that is the least demanding).
        let (v, missing) = variants
            .iter()
            .map(|v| (v, cpu::missing(&v.required_features, &host)))
            .rev()
            .min_by_key(|(_, m)| m.len())
            .ok_or(RuntimeError::Artifact {
                file: file.to_string(),
                source: Box::new(neoc_artifact::ArtifactError::NoCode {
                    kernels: view.plan().kernels.len() as u64,
                }),
            })?;
        return Err(RuntimeError::MissingCpuFeatures {
            file: file.to_string(),
            variant: v.name.clone(),
            missing: missing.iter().map(|s| s.to_string()).collect(),
            available: host.names().iter().map(|s| s.to_string()).collect(),
            suggestion: host.suggested_target().map(str::to_string),
        });
    };
    let v = &variants[index];
    let code = LoadedCode::load(v.code).map_err(|reason| RuntimeError::BadCode {
        file: file.to_string(),
        variant: v.name.clone(),
        reason,
    })?;
    let kernels = view
        .plan()
        .kernels
        .iter()
        .map(|KernelInfo { symbol, .. }| {
            code.kernel(symbol)
                .ok_or_else(|| RuntimeError::MissingSymbol {
                    file: file.to_string(),
                    variant: v.name.clone(),
                    symbol: symbol.clone(),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let selected = SelectedVariant {
        index,
        name: v.name.clone(),
        cpu: v.cpu.clone(),
        required_features: v.required_features.clone(),
    };
    Ok((Some(selected), Some(code), kernels))
}

fn to_usize(n: u64, what: &str) -> Result<usize> {
    usize::try_from(n).map_err(|_| RuntimeError::TooLarge {
        what: what.to_string(),
        bytes: n,
    })
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("file", &self.file)
            .field("target", &self.target.name)
            .field("variant", &self.variant.as_ref().map(|v| &v.name))
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("steps", &self.plan.steps.len())
            .finish_non_exhaustive()
    }
}

/// Per-caller execution state: the scratch arena. One context serves one run at a time;
/// use one per thread. A context may serve several models (its arena grows as needed).
/// The arena is zeroed once, when allocated, not between runs.
#[derive(Debug)]
pub struct Context {
    arena: AlignedBuf,
    pool: Pool,
    /// Time spent in each plan step, summed over runs, while profiling is on.
    profile: Option<Vec<std::time::Duration>>,
}

/// The argument array of one kernel call, shared read-only by its tasks.
#[derive(Clone, Copy)]
struct Args(*const *mut u8);

// SAFETY: the array and the buffers it points at outlive the call (the caller waits for
// all tasks), and parallel kernels' tasks write disjoint memory.
unsafe impl Send for Args {}
unsafe impl Sync for Args {}

impl Context {
    /// Turns per-step timing on (from zero) or off. Timing costs two clock reads per
    /// step; off, nothing.
    pub fn set_profiling(&mut self, on: bool) {
        self.profile = on.then(Vec::new);
    }

    /// Wall time spent in each step of the plan (index = step), summed over the runs
    /// since profiling was turned on; `None` while it is off.
    pub fn step_times(&self) -> Option<&[std::time::Duration]> {
        self.profile.as_deref()
    }

    /// Runs `model` on `inputs`, given in signature order; returns the outputs in signature
    /// order. Inputs are read in place (copied only when misaligned for their dtype);
    /// every dtype and shape is checked against the signature first.
    ///
    /// ```
    /// use neoc_runtime::{Model, RuntimeError, TensorRef};
    /// # fn npy(rel: &str) -> Vec<f32> {
    /// #     let path = format!("{}/../../testmodels/models/mlp/{rel}", env!("CARGO_MANIFEST_DIR"));
    /// #     let bytes = std::fs::read(&path).expect(&path);
    /// #     npyz::NpyFile::new(&bytes[..]).and_then(|f| f.into_vec()).expect(&path)
    /// # }
    /// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testmodels/artifacts/mlp_x86_64.neo");
    /// let model = Model::load(path)?;
    /// let mut ctx = model.new_context_with_threads(2)?; // this context's own 2-thread pool
    /// let (x, want) = (npy("inputs/input.npy"), npy("expected/output.npy"));
    /// for _ in 0..2 {
    ///     // Reused: the arena is allocated once.
    ///     let out = ctx.run(&model, &[TensorRef::from_slice(&[4, 64], &x)])?;
    ///     let y: &[f32] = out[0].as_slice().unwrap_or_default();
    ///     assert!(y.len() == want.len() && y.iter().zip(&want).all(|(g, w)| (g - w).abs() <= 1e-5 + 1e-4 * w.abs()));
    /// }
    ///
    /// // The wrong shape is refused before anything runs, with what was expected.
    /// let err = ctx.run(&model, &[TensorRef::f32(&[2, 128], &x)]).unwrap_err();
    /// assert!(matches!(&err, RuntimeError::InputMismatch { expected, found, .. }
    ///     if expected == "float32[4,64]" && found == "float32[2,128]"), "{err}");
    /// # Ok::<(), RuntimeError>(())
    /// ```
    pub fn run(&mut self, model: &Model, inputs: &[TensorRef<'_>]) -> Result<Vec<Tensor>> {
        let mut outputs = model
            .outputs
            .iter()
            .map(|s| Tensor::zeros(s.dtype, s.shape.clone()))
            .collect::<Result<Vec<_>>>()?;
        let output_ptrs: Vec<*mut u8> = outputs.iter_mut().map(Tensor::data_mut_ptr).collect();
        self.execute(model, inputs, &output_ptrs)?;
        Ok(outputs)
    }

    /// Like [`Context::run`], writing each output into the caller's buffer (in signature
    /// order) instead of allocating: in place when the buffer is 64-byte aligned
    /// ([`crate::BUFFER_ALIGN`], what the kernels are compiled for; a [`Tensor`]'s data
    /// always is), through one aligned copy otherwise. Each buffer's dtype, shape and byte
    /// length must match the signature; it is zeroed before the run, as a fresh output is.
    ///
    /// ```
    /// use neoc_runtime::{DType, Model, RuntimeError, Tensor, TensorMut, TensorRef};
    /// # fn npy(rel: &str) -> Vec<f32> {
    /// #     let path = format!("{}/../../testmodels/models/mlp/{rel}", env!("CARGO_MANIFEST_DIR"));
    /// #     let bytes = std::fs::read(&path).expect(&path);
    /// #     npyz::NpyFile::new(&bytes[..]).and_then(|f| f.into_vec()).expect(&path)
    /// # }
    /// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testmodels/artifacts/mlp_x86_64.neo");
    /// let model = Model::load(path)?;
    /// let mut ctx = model.new_context()?;
    /// let (x, want) = (npy("inputs/input.npy"), npy("expected/output.npy"));
    /// let close = |y: &[f32]| y.len() == want.len()
    ///     && y.iter().zip(&want).all(|(g, w)| (g - w).abs() <= 1e-5 + 1e-4 * w.abs());
    ///
    /// // A Tensor allocated once and reused: written in place, no allocation per run.
    /// let mut y = Tensor::zeros(DType::F32, [4, 10])?;
    /// let at = y.as_bytes().as_ptr();
    /// for _ in 0..2 {
    ///     ctx.run_into(&model, &[TensorRef::f32(&[4, 64], &x)], &mut [TensorMut::from(&mut y)])?;
    ///     assert!(close(y.as_f32().unwrap_or_default()));
    /// }
    /// assert_eq!(y.as_bytes().as_ptr(), at);
    ///
    /// // Any other &mut [f32] works too, through one copy when it is not 64-byte aligned.
    /// let mut buf = vec![0f32; 41];
    /// let out = &mut buf[1..]; // 4 bytes past the allocation: never 64-byte aligned
    /// ctx.run_into(&model, &[TensorRef::f32(&[4, 64], &x)], &mut [TensorMut::from_slice(&[4, 10], out)])?;
    /// assert!(close(&buf[1..]));
    ///
    /// // A buffer that does not fit the signature is refused before anything runs.
    /// let mut small = vec![0f32; 10];
    /// let err = ctx
    ///     .run_into(&model, &[TensorRef::f32(&[4, 64], &x)], &mut [TensorMut::from_slice(&[1, 10], &mut small)])
    ///     .unwrap_err();
    /// assert!(matches!(&err, RuntimeError::OutputMismatch { expected, .. } if expected == "float32[4,10]"), "{err}");
    /// # Ok::<(), RuntimeError>(())
    /// ```
    pub fn run_into(
        &mut self,
        model: &Model,
        inputs: &[TensorRef<'_>],
        outputs: &mut [TensorMut<'_>],
    ) -> Result<()> {
        if outputs.len() != model.outputs.len() {
            return Err(RuntimeError::OutputCount {
                file: model.file.clone(),
                expected: model.outputs.len(),
                found: outputs.len(),
            });
        }
        for (spec, o) in model.outputs.iter().zip(outputs.iter()) {
            if o.dtype != spec.dtype
                || o.shape != spec.shape.as_slice()
                || o.data.len() as u64 != spec.byte_len()
            {
                return Err(RuntimeError::OutputMismatch {
                    file: model.file.clone(),
                    output: spec.name.clone(),
                    expected: spec.type_string(),
                    found: format!("{} ({} bytes)", o.type_string(), o.data.len()),
                });
            }
        }
        // Misaligned buffers get the result through an aligned scratch copy.
        let mut scratch: Vec<Option<AlignedBuf>> = Vec::with_capacity(outputs.len());
        for o in outputs.iter_mut() {
            scratch.push(if (o.data.as_ptr() as usize) % BUFFER_ALIGN == 0 {
                o.data.fill(0);
                None
            } else {
                Some(AlignedBuf::zeroed(o.data.len())?)
            });
        }
        let output_ptrs: Vec<*mut u8> = outputs
            .iter_mut()
            .zip(scratch.iter_mut())
            .map(|(o, s)| match s {
                Some(s) => s.as_mut_ptr(),
                None => o.data.as_mut_ptr(),
            })
            .collect();
        self.execute(model, inputs, &output_ptrs)?;
        for (o, s) in outputs.iter_mut().zip(&scratch) {
            if let Some(s) = s {
                o.data.copy_from_slice(s.as_slice());
            }
        }
        Ok(())
    }

    /// Checks `inputs` against the signature, then calls every step of the plan with the
    /// outputs at `output_ptrs`: 64-byte aligned, zeroed, of the signature's sizes.
    fn execute(
        &mut self,
        model: &Model,
        inputs: &[TensorRef<'_>],
        output_ptrs: &[*mut u8],
    ) -> Result<()> {
        if inputs.len() != model.inputs.len() {
            return Err(RuntimeError::InputCount {
                file: model.file.clone(),
                expected: model.inputs.len(),
                found: inputs.len(),
            });
        }
        // Validate every input, and copy those not aligned for their dtype.
        let mut copies: Vec<Option<AlignedBuf>> = Vec::with_capacity(inputs.len());
        for (spec, t) in model.inputs.iter().zip(inputs) {
            if let Some(e) = model.input_error(spec, t) {
                return Err(e);
            }
            let misaligned = (t.data.as_ptr() as usize) % spec.dtype.size_bytes() != 0;
            copies.push(if misaligned {
                Some(AlignedBuf::copy_of(t.data)?)
            } else {
                None
            });
        }
        let input_ptrs: Vec<*mut u8> = inputs
            .iter()
            .zip(&copies)
            .map(|(t, c)| match c {
                Some(c) => c.as_ptr().cast_mut(),
                None => t.data.as_ptr().cast_mut(),
            })
            .collect();
        let arena_size = to_usize(model.plan.arena_size, "arena")?;
        if self.arena.len() < arena_size {
            self.arena = AlignedBuf::zeroed(arena_size)?;
        }
        model.verify()?;
        let arena = self.arena.as_mut_ptr();
        let weights = model.weights_ptr();

        let mut args: Vec<*mut u8> = Vec::new();
        if let Some(p) = &mut self.profile {
            p.resize(model.plan.steps.len(), std::time::Duration::ZERO);
        }
        for (si, step) in model.plan.steps.iter().enumerate() {
            let started = self.profile.is_some().then(std::time::Instant::now);
            args.clear();
            // Every index and range below was validated by Artifact::parse: indices are in
            // range and `offset + len` lies within the arena or the weights.
            for arg in &step.args {
                args.push(match *arg {
                    BufferRef::Input(i) => input_ptrs[i as usize],
                    BufferRef::Output(i) => output_ptrs[i as usize],
                    BufferRef::Arena { offset, .. } => arena.wrapping_add(offset as usize),
                    BufferRef::Weight { offset, .. } => {
                        weights.wrapping_add(offset as usize).cast_mut()
                    }
                });
            }
            let kernel = model.kernels[step.kernel as usize];
            let parallel = model.plan.kernels[step.kernel as usize].parallel;
            // SAFETY: the kernel comes from the loaded code variant and follows the neoc
            // kernel ABI; each pointer is valid for the byte length the kernel declares
            // (checked at parse time), outputs and arena are writable and exclusively ours
            // for this run, inputs and weights are only read. A parallel kernel's tasks
            // write disjoint memory, so they may run concurrently.
            if parallel && self.pool.threads() > 1 {
                let a = Args(args.as_ptr());
                let n = self.pool.threads() as i64;
                self.pool.run(&move |task| {
                    let a = a;
                    unsafe { kernel(a.0, task as i64, n) }
                });
            } else {
                unsafe { kernel(args.as_ptr(), 0, 1) };
            }
            if let (Some(t0), Some(p)) = (started, &mut self.profile) {
                if let Some(slot) = p.get_mut(si) {
                    *slot += t0.elapsed();
                }
            }
        }
        debug_assert!(model.weights_len == 0 || weights.align_offset(BUFFER_ALIGN) == 0);
        drop(copies);
        Ok(())
    }

    /// Like [`Context::run`], with inputs given by name in any order.
    pub fn run_named(
        &mut self,
        model: &Model,
        inputs: &[(&str, TensorRef<'_>)],
    ) -> Result<Vec<Tensor>> {
        let file = || model.file.clone();
        let mut ordered: Vec<Option<TensorRef<'_>>> = vec![None; model.inputs.len()];
        for (name, t) in inputs {
            let Some(i) = model.inputs.iter().position(|s| s.name == *name) else {
                return Err(RuntimeError::UnknownInput {
                    file: file(),
                    input: name.to_string(),
                    known: model.inputs.iter().map(|s| s.name.clone()).collect(),
                });
            };
            if ordered[i].replace(*t).is_some() {
                return Err(RuntimeError::DuplicateInput {
                    file: file(),
                    input: name.to_string(),
                });
            }
        }
        let ordered = ordered
            .into_iter()
            .zip(&model.inputs)
            .map(|(t, s)| {
                t.ok_or_else(|| RuntimeError::MissingInput {
                    file: file(),
                    input: s.name.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.run(model, &ordered)
    }
}
