//! The executor: load a CUDA artifact onto a GPU once, then run it many times.
//!
//! Loading validates the artifact (`neoc_artifact`), checks the PTX (`ptx.rs`) before
//! touching the driver, then: loads the driver, takes the device's primary context,
//! JIT-loads the PTX, resolves every kernel, uploads the weights once, allocates one
//! device arena of the plan's size plus one buffer per model input and output, and
//! precomputes every step's kernel arguments (device pointers never change). A run copies
//! the inputs in, launches the plan's steps in order on one stream, copies the outputs
//! back and waits for the stream.

use std::ffi::{c_uint, c_void, CString};
use std::path::Path;

use neoc_artifact::{Arch, Artifact, BufferRef, TensorSpec};
use neoc_runtime::{Tensor, TensorRef};

use crate::driver::{
    CuContext, CuDevicePtr, CuFunction, CuGraphExec, CuModule, CuStream, Driver,
    CAPTURE_THREAD_LOCAL,
};
use crate::error::{CudaError, Result};
use crate::ptx;

/// Environment variable: which GPU to use (ordinal, default 0).
pub const CUDA_DEVICE_ENV: &str = "NEOC_CUDA_DEVICE";
/// Environment variable: `0` runs the plan's launches one by one instead of replaying them
/// as a CUDA graph.
pub const CUDA_GRAPHS_ENV: &str = "NEOC_CUDA_GRAPHS";

/// Threads per block of every launch of a kernel made of independent iterations (block
/// kernels say their own, `<kernel>__neoc_block` in the PTX).
const BLOCK: u64 = 256;

/// One compiled step: its kernel and launch geometry, and its arguments.
struct Launch {
    function: CuFunction,
    grid: c_uint,
    block: c_uint,
    /// Device pointer per parameter; `cuLaunchKernel` gets a pointer to each.
    args: Vec<CuDevicePtr>,
}

/// A CUDA artifact loaded on a GPU. Not `Sync`: one thread runs it at a time.
pub struct CudaModel {
    file: String,
    driver: Driver,
    device: crate::driver::DeviceInfo,
    context: CuContext,
    module: CuModule,
    stream: CuStream,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    input_bufs: Vec<CuDevicePtr>,
    output_bufs: Vec<CuDevicePtr>,
    /// Weights, arena, inputs, outputs: freed on drop.
    allocations: Vec<CuDevicePtr>,
    launches: Vec<Launch>,
    /// The plan's launches captured as a graph on the first run (null until then, or
    /// when graphs are off or failed).
    graph: CuGraphExec,
    use_graphs: bool,
    variant: String,
    weight_bytes: u64,
    arena_bytes: u64,
}

impl std::fmt::Debug for CudaModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaModel")
            .field("file", &self.file)
            .field("device", &self.device.name)
            .field("variant", &self.variant)
            .finish()
    }
}

// SAFETY: the raw handles are only used through `&mut self` (one thread at a time), and
// every call makes the model's context current on the calling thread first.
unsafe impl Send for CudaModel {}

/// The PTX of a CUDA artifact and its checked contents, before any driver call.
struct Checked<'a> {
    ptx: &'a str,
    info: ptx::PtxInfo,
    variant: String,
}

fn check_artifact<'a>(
    view: &'a neoc_artifact::ArtifactView<'a>,
    file: &str,
) -> Result<Checked<'a>> {
    let target = view.target();
    if target.arch != Arch::Nvptx {
        return Err(CudaError::NotCuda {
            file: file.to_string(),
            target: target.name.clone(),
            arch: target.arch.to_string(),
        });
    }
    let bad = |variant: &str, reason: String| CudaError::BadPtx {
        file: file.to_string(),
        variant: variant.to_string(),
        reason,
    };
    let Some(v) = view.variants().first() else {
        return Err(bad("", "the artifact has no code".into()));
    };
    let info = ptx::inspect(v.code).map_err(|r| bad(&v.name, r))?;
    for k in &view.plan().kernels {
        if !info.entries.iter().any(|e| e == &k.symbol) {
            return Err(bad(&v.name, format!("no .entry for kernel {}", k.symbol)));
        }
        if !info.threads.contains_key(&k.symbol) {
            return Err(bad(
                &v.name,
                format!("no launch size for kernel {}", k.symbol),
            ));
        }
    }
    let ptx = std::str::from_utf8(v.code).map_err(|e| bad(&v.name, e.to_string()))?;
    Ok(Checked {
        ptx,
        info,
        variant: v.name.clone(),
    })
}

/// Checks a CUDA artifact as far as possible without a GPU: format, target, PTX, every
/// kernel's entry and launch size. Returns the PTX's `sm` (90 for `sm_90`).
pub fn check_bytes(bytes: &[u8], file: &str) -> Result<u32> {
    let view = Artifact::parse(bytes).map_err(|source| CudaError::Artifact {
        file: file.to_string(),
        source: Box::new(source),
    })?;
    Ok(check_artifact(&view, file)?.info.sm)
}

impl CudaModel {
    /// Loads `path` onto the GPU (`NEOC_CUDA_DEVICE`, default 0).
    pub fn load(path: impl AsRef<Path>) -> Result<CudaModel> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| CudaError::Io {
            file: file.clone(),
            source,
        })?;
        CudaModel::from_bytes(&bytes, &file)
    }

    /// Loads an artifact held in memory; `file` names it in messages.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<CudaModel> {
        let view = Artifact::parse(bytes).map_err(|source| CudaError::Artifact {
            file: file.to_string(),
            source: Box::new(source),
        })?;
        let checked = check_artifact(&view, file)?;
        let driver = Driver::load()?;
        let ordinal = std::env::var(CUDA_DEVICE_ENV)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let device = driver.device(ordinal)?;
        if device.sm < checked.info.sm {
            return Err(CudaError::ComputeCapability {
                file: file.to_string(),
                variant: checked.variant,
                need_major: checked.info.sm / 10,
                need_minor: checked.info.sm % 10,
                device: device.name.clone(),
                has_major: device.sm / 10,
                has_minor: device.sm % 10,
            });
        }
        let a = driver.api.clone();
        let mut context: CuContext = std::ptr::null_mut();
        // SAFETY: out-pointer to a local; the device handle came from the driver.
        driver.check(
            unsafe { (a.cuDevicePrimaryCtxRetain)(&mut context, device.device) },
            "cuDevicePrimaryCtxRetain",
        )?;
        let mut model = CudaModel {
            file: file.to_string(),
            driver,
            device,
            context,
            module: std::ptr::null_mut(),
            stream: std::ptr::null_mut(),
            inputs: view.inputs().to_vec(),
            outputs: view.outputs().to_vec(),
            input_bufs: Vec::new(),
            output_bufs: Vec::new(),
            allocations: Vec::new(),
            launches: Vec::new(),
            graph: std::ptr::null_mut(),
            use_graphs: false,
            variant: checked.variant.clone(),
            weight_bytes: view.weights().len() as u64,
            arena_bytes: view.plan().arena_size,
        };
        // From here on `Drop` releases whatever was set up.
        model.make_current()?;
        model.module = model.driver.load_ptx(checked.ptx)?;
        let d = model.driver.clone();
        // SAFETY: out-pointer to a field; flags 1 = CU_STREAM_NON_BLOCKING (no implicit
        // synchronisation with the legacy default stream, which graph capture needs).
        d.check(
            unsafe { (a.cuStreamCreate)(&mut model.stream, 1) },
            "cuStreamCreate",
        )?;
        model.use_graphs =
            a.graphs.is_some() && std::env::var(CUDA_GRAPHS_ENV).map_or(true, |v| v != "0");

        let weights = model.alloc(view.weights().len() as u64, "weights")?;
        if !view.weights().is_empty() {
            // SAFETY: `weights` holds exactly this many bytes.
            d.check(
                unsafe {
                    (a.cuMemcpyHtoD_v2)(
                        weights,
                        view.weights().as_ptr().cast(),
                        view.weights().len(),
                    )
                },
                "cuMemcpyHtoD (weights)",
            )?;
        }
        let arena = model.alloc(view.plan().arena_size, "arena")?;
        // The CPU runtime zeroes a context's arena once; so does this one.
        d.check(
            // SAFETY: the arena holds at least arena_size bytes.
            unsafe { (a.cuMemsetD8_v2)(arena, 0, view.plan().arena_size as usize) },
            "cuMemsetD8 (arena)",
        )?;
        for spec in view.inputs() {
            let p = model.alloc(spec.byte_len(), "input")?;
            model.input_bufs.push(p);
        }
        for spec in view.outputs() {
            let p = model.alloc(spec.byte_len(), "output")?;
            model.output_bufs.push(p);
        }

        let mut functions = Vec::new();
        for k in &view.plan().kernels {
            let name = CString::new(k.symbol.as_str()).map_err(|_| CudaError::BadPtx {
                file: file.to_string(),
                variant: checked.variant.clone(),
                reason: format!("kernel name {:?} contains NUL", k.symbol),
            })?;
            let mut f: CuFunction = std::ptr::null_mut();
            // SAFETY: a NUL-terminated name and a module loaded above.
            d.check(
                unsafe { (a.cuModuleGetFunction)(&mut f, model.module, name.as_ptr()) },
                "cuModuleGetFunction",
            )?;
            let threads = checked
                .info
                .threads
                .get(&k.symbol)
                .copied()
                .unwrap_or(1)
                .max(1);
            // A block kernel's block size is part of its meaning; other kernels get
            // blocks of up to BLOCK threads.
            let block = match checked.info.blocks.get(&k.symbol) {
                Some(&b) => b,
                None => threads.min(BLOCK),
            };
            let grid = threads.div_ceil(block).min(u64::from(i32::MAX as u32));
            functions.push((f, grid as c_uint, block as c_uint));
        }
        for step in &view.plan().steps {
            let (function, grid, block) = functions[step.kernel as usize];
            let args = step
                .args
                .iter()
                .map(|r| match *r {
                    BufferRef::Input(i) => model.input_bufs[i as usize],
                    BufferRef::Output(i) => model.output_bufs[i as usize],
                    BufferRef::Arena { offset, .. } => arena + offset,
                    BufferRef::Weight { offset, .. } => weights + offset,
                })
                .collect();
            model.launches.push(Launch {
                function,
                grid,
                block,
                args,
            });
        }
        Ok(model)
    }

    fn make_current(&self) -> Result<()> {
        // SAFETY: the context was retained at load and is released only on drop.
        self.driver.check(
            unsafe { (self.driver.api.cuCtxSetCurrent)(self.context) },
            "cuCtxSetCurrent",
        )
    }

    /// Allocates `bytes` (at least 256, so empty buffers get a valid pointer) on the GPU.
    fn alloc(&mut self, bytes: u64, what: &'static str) -> Result<CuDevicePtr> {
        let len = usize::try_from(bytes.max(256)).map_err(|_| CudaError::TooLarge {
            file: self.file.clone(),
            what,
            bytes,
        })?;
        let mut p: CuDevicePtr = 0;
        // SAFETY: out-pointer to a local.
        self.driver.check(
            unsafe { (self.driver.api.cuMemAlloc_v2)(&mut p, len) },
            "cuMemAlloc",
        )?;
        self.allocations.push(p);
        Ok(p)
    }

    pub fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }
    pub fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }
    /// The GPU's name, e.g. `NVIDIA H100 80GB HBM3`.
    pub fn device_name(&self) -> &str {
        &self.device.name
    }
    /// The GPU's compute capability as `major * 10 + minor`.
    pub fn device_sm(&self) -> u32 {
        self.device.sm
    }
    /// The code variant, e.g. `sm_90`.
    pub fn variant(&self) -> &str {
        &self.variant
    }
    /// Bytes of weights on the device and of the device arena.
    pub fn device_bytes(&self) -> (u64, u64) {
        (self.weight_bytes, self.arena_bytes)
    }
    /// How many kernel launches one run makes.
    pub fn launches(&self) -> usize {
        self.launches.len()
    }

    /// Runs the model on `inputs` (signature order) and returns the outputs.
    pub fn run(&mut self, inputs: &[TensorRef<'_>]) -> Result<Vec<Tensor>> {
        self.check_inputs(inputs)?;
        self.make_current()?;
        let d = self.driver.clone();
        let a = &d.api;
        for (x, &dst) in inputs.iter().zip(&self.input_bufs) {
            // SAFETY: the device buffer holds the input's byte length (checked above);
            // the host data lives until the stream is synchronised below.
            d.check(
                unsafe {
                    (a.cuMemcpyHtoDAsync_v2)(dst, x.data.as_ptr().cast(), x.data.len(), self.stream)
                },
                "cuMemcpyHtoDAsync (input)",
            )?;
        }
        if self.use_graphs && self.graph.is_null() && self.capture().is_err() {
            // Capture is an optimisation: any failure means launching one by one.
            self.use_graphs = false;
        }
        match (&a.graphs, self.graph.is_null()) {
            (Some(g), false) => {
                // SAFETY: a graph instantiated from this model's launches, on its stream.
                d.check(
                    unsafe { (g.cuGraphLaunch)(self.graph, self.stream) },
                    "cuGraphLaunch",
                )?;
            }
            _ => self.launch_all()?,
        }
        let mut outs = Vec::with_capacity(self.outputs.len());
        for spec in &self.outputs {
            outs.push(Tensor::zeros(spec.dtype, spec.shape.clone())?);
        }
        for (t, &src) in outs.iter_mut().zip(&self.output_bufs) {
            let bytes = t.as_bytes_mut();
            // SAFETY: the device buffer holds the output's byte length; the host tensor
            // lives until the synchronisation below.
            d.check(
                unsafe {
                    (a.cuMemcpyDtoHAsync_v2)(
                        bytes.as_mut_ptr().cast(),
                        src,
                        bytes.len(),
                        self.stream,
                    )
                },
                "cuMemcpyDtoHAsync (output)",
            )?;
        }
        // SAFETY: a stream created at load.
        d.check(
            unsafe { (a.cuStreamSynchronize)(self.stream) },
            "cuStreamSynchronize",
        )?;
        Ok(outs)
    }

    /// Enqueues every step's kernel on the stream.
    fn launch_all(&mut self) -> Result<()> {
        let d = self.driver.clone();
        let a = &d.api;
        for l in &mut self.launches {
            let mut params: Vec<*mut c_void> = l
                .args
                .iter_mut()
                .map(|p| (p as *mut CuDevicePtr).cast::<c_void>())
                .collect();
            // SAFETY: one pointer to a device pointer per kernel parameter, as the PTX
            // entry declares (u64 params); they live until the call returns (the driver
            // copies the values at launch).
            d.check(
                unsafe {
                    (a.cuLaunchKernel)(
                        l.function,
                        l.grid,
                        1,
                        1,
                        l.block,
                        1,
                        1,
                        0,
                        self.stream,
                        params.as_mut_ptr(),
                        std::ptr::null_mut(),
                    )
                },
                "cuLaunchKernel",
            )?;
        }
        Ok(())
    }

    /// Records the plan's launches as a CUDA graph (`self.graph`).
    fn capture(&mut self) -> Result<()> {
        let d = self.driver.clone();
        let Some(g) = &d.api.graphs else {
            return Ok(());
        };
        // SAFETY: this model's stream, not the legacy default stream.
        d.check(
            unsafe { (g.cuStreamBeginCapture_v2)(self.stream, CAPTURE_THREAD_LOCAL) },
            "cuStreamBeginCapture",
        )?;
        let launched = self.launch_all();
        let mut graph = std::ptr::null_mut();
        // SAFETY: ends the capture begun above (also after a failed launch).
        let ended = unsafe { (g.cuStreamEndCapture)(self.stream, &mut graph) };
        launched?;
        d.check(ended, "cuStreamEndCapture")?;
        let mut exec = std::ptr::null_mut();
        // SAFETY: a graph just captured; it is destroyed once instantiated.
        let made = unsafe { (g.cuGraphInstantiateWithFlags)(&mut exec, graph, 0) };
        // SAFETY: as above.
        unsafe { (g.cuGraphDestroy)(graph) };
        d.check(made, "cuGraphInstantiateWithFlags")?;
        self.graph = exec;
        Ok(())
    }

    /// Whether runs replay the plan as a CUDA graph (after the first run; see
    /// `NEOC_CUDA_GRAPHS`).
    pub fn uses_graphs(&self) -> bool {
        self.use_graphs
    }

    fn check_inputs(&self, inputs: &[TensorRef<'_>]) -> Result<()> {
        if inputs.len() != self.inputs.len() {
            return Err(CudaError::InputCount {
                file: self.file.clone(),
                expected: self.inputs.len(),
                got: inputs.len(),
            });
        }
        for (spec, x) in self.inputs.iter().zip(inputs) {
            if x.dtype != spec.dtype || x.shape != spec.shape.as_slice() {
                return Err(CudaError::InputMismatch {
                    file: self.file.clone(),
                    name: spec.name.clone(),
                    expected: spec.type_string(),
                    got: x.type_string(),
                });
            }
            if x.data.len() as u64 != spec.byte_len() {
                return Err(CudaError::InputSize {
                    file: self.file.clone(),
                    name: spec.name.clone(),
                    ty: spec.type_string(),
                    need: spec.byte_len(),
                    got: x.data.len(),
                });
            }
        }
        Ok(())
    }
}

impl Drop for CudaModel {
    fn drop(&mut self) {
        let a = &self.driver.api;
        // SAFETY: every handle was created by this model; errors are ignored (nothing
        // useful can be done with them while dropping).
        unsafe {
            (a.cuCtxSetCurrent)(self.context);
            if let (Some(g), false) = (&a.graphs, self.graph.is_null()) {
                (g.cuGraphExecDestroy)(self.graph);
            }
            if !self.stream.is_null() {
                (a.cuStreamSynchronize)(self.stream);
                (a.cuStreamDestroy_v2)(self.stream);
            }
            for &p in &self.allocations {
                (a.cuMemFree_v2)(p);
            }
            if !self.module.is_null() {
                (a.cuModuleUnload)(self.module);
            }
            (a.cuDevicePrimaryCtxRelease_v2)(self.device.device);
        }
    }
}
