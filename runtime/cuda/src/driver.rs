//! The CUDA driver API, loaded at run time from `libcuda.so.1` with `libloading`.
//!
//! Why not a CUDA crate: building against the toolkit (or `cudarc`'s version features)
//! would tie the runtime's build to a CUDA installation, and `cudarc` panics when the
//! library is missing unless checked first. This file declares the ~25 driver functions
//! the executor uses, with the C signatures of `cuda.h` (CUDA 11+, the `_v2` entry points
//! that the header's macros select), resolves them once, and turns every `CUresult` into a
//! [`CudaError`] naming the call. Nothing here panics.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::Arc;

use crate::error::CudaError;

pub(crate) type CuResult = c_int;
pub(crate) type CuDevice = c_int;
pub(crate) type CuDevicePtr = u64;
pub(crate) type CuContext = *mut c_void;
pub(crate) type CuModule = *mut c_void;
pub(crate) type CuFunction = *mut c_void;
pub(crate) type CuStream = *mut c_void;

const CUDA_SUCCESS: CuResult = 0;
/// `CUDA_ERROR_NO_DEVICE`: the driver is installed but sees no GPU.
const CUDA_ERROR_NO_DEVICE: CuResult = 100;
const ATTR_CC_MAJOR: c_int = 75;
const ATTR_CC_MINOR: c_int = 76;
const JIT_ERROR_LOG_BUFFER: c_int = 5;
const JIT_ERROR_LOG_BUFFER_SIZE_BYTES: c_int = 6;

/// Environment variable: the driver library to load instead of `libcuda.so.1`.
pub const CUDA_LIBRARY_ENV: &str = "NEOC_CUDA_LIBRARY";

macro_rules! driver_api {
    ($($name:ident : fn($($arg:ty),*);)*) => {
        #[allow(non_snake_case)]
        pub(crate) struct Api {
            $(pub $name: unsafe extern "C" fn($($arg),*) -> CuResult,)*
            /// CUDA graphs, when this driver has them (11.4 and newer).
            pub graphs: Option<GraphApi>,
            _lib: libloading::Library,
        }

        impl Api {
            #[allow(non_snake_case)]
            fn resolve(lib: libloading::Library, path: &str) -> Result<Api, CudaError> {
                $(
                    // SAFETY: the symbol has this C signature in every CUDA 11/12 driver.
                    let $name = unsafe {
                        lib.get::<unsafe extern "C" fn($($arg),*) -> CuResult>(
                            concat!(stringify!($name), "\0").as_bytes(),
                        )
                    }
                    .map(|s| *s)
                    .map_err(|e| CudaError::NoDriver {
                        library: path.to_string(),
                        reason: format!("it lacks {}: {e}", stringify!($name)),
                    })?;
                )*
                let graphs = GraphApi::resolve(&lib);
                Ok(Api { $($name,)* graphs, _lib: lib })
            }
        }
    };
}

driver_api! {
    cuInit: fn(c_uint);
    cuDriverGetVersion: fn(*mut c_int);
    cuDeviceGetCount: fn(*mut c_int);
    cuDeviceGet: fn(*mut CuDevice, c_int);
    cuDeviceGetName: fn(*mut c_char, c_int, CuDevice);
    cuDeviceGetAttribute: fn(*mut c_int, c_int, CuDevice);
    cuDevicePrimaryCtxRetain: fn(*mut CuContext, CuDevice);
    cuDevicePrimaryCtxRelease_v2: fn(CuDevice);
    cuCtxSetCurrent: fn(CuContext);
    cuModuleLoadDataEx: fn(*mut CuModule, *const c_void, c_uint, *mut c_int, *mut *mut c_void);
    cuModuleGetFunction: fn(*mut CuFunction, CuModule, *const c_char);
    cuModuleUnload: fn(CuModule);
    cuMemAlloc_v2: fn(*mut CuDevicePtr, usize);
    cuMemFree_v2: fn(CuDevicePtr);
    cuMemsetD8_v2: fn(CuDevicePtr, u8, usize);
    cuMemcpyHtoD_v2: fn(CuDevicePtr, *const c_void, usize);
    cuMemcpyHtoDAsync_v2: fn(CuDevicePtr, *const c_void, usize, CuStream);
    cuMemcpyDtoHAsync_v2: fn(*mut c_void, CuDevicePtr, usize, CuStream);
    cuStreamCreate: fn(*mut CuStream, c_uint);
    cuStreamSynchronize: fn(CuStream);
    cuStreamDestroy_v2: fn(CuStream);
    cuLaunchKernel: fn(CuFunction, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint,
                       CuStream, *mut *mut c_void, *mut *mut c_void);
    cuGetErrorName: fn(CuResult, *mut *const c_char);
}

pub(crate) type CuGraph = *mut c_void;
pub(crate) type CuGraphExec = *mut c_void;

/// `CU_STREAM_CAPTURE_MODE_THREAD_LOCAL`.
pub(crate) const CAPTURE_THREAD_LOCAL: c_int = 1;

/// The graph entry points used to replay a plan's launches (optional: a driver without
/// them runs the launches one by one).
#[allow(non_snake_case)]
pub(crate) struct GraphApi {
    pub cuStreamBeginCapture_v2: unsafe extern "C" fn(CuStream, c_int) -> CuResult,
    pub cuStreamEndCapture: unsafe extern "C" fn(CuStream, *mut CuGraph) -> CuResult,
    pub cuGraphInstantiateWithFlags:
        unsafe extern "C" fn(*mut CuGraphExec, CuGraph, u64) -> CuResult,
    pub cuGraphLaunch: unsafe extern "C" fn(CuGraphExec, CuStream) -> CuResult,
    pub cuGraphDestroy: unsafe extern "C" fn(CuGraph) -> CuResult,
    pub cuGraphExecDestroy: unsafe extern "C" fn(CuGraphExec) -> CuResult,
}

impl GraphApi {
    fn resolve(lib: &libloading::Library) -> Option<GraphApi> {
        macro_rules! get {
            ($name:literal) => {
                // SAFETY: the symbol has the declared C signature (cuda.h, CUDA 11.4+);
                // the pointer is used only while `lib` (kept in `Api`) is loaded.
                *unsafe { lib.get(concat!($name, "\0").as_bytes()) }.ok()?
            };
        }
        Some(GraphApi {
            cuStreamBeginCapture_v2: get!("cuStreamBeginCapture_v2"),
            cuStreamEndCapture: get!("cuStreamEndCapture"),
            cuGraphInstantiateWithFlags: get!("cuGraphInstantiateWithFlags"),
            cuGraphLaunch: get!("cuGraphLaunch"),
            cuGraphDestroy: get!("cuGraphDestroy"),
            cuGraphExecDestroy: get!("cuGraphExecDestroy"),
        })
    }
}

/// A loaded and initialised driver.
#[derive(Clone)]
pub(crate) struct Driver {
    pub api: Arc<Api>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Driver")
    }
}

/// What [`Driver::device`] found.
#[derive(Debug, Clone)]
pub(crate) struct DeviceInfo {
    pub device: CuDevice,
    pub name: String,
    /// Compute capability as `major * 10 + minor` (90 for an H100).
    pub sm: u32,
    /// The driver's CUDA version, e.g. 12040.
    pub driver_version: i32,
}

impl Driver {
    /// Loads the driver library (`NEOC_CUDA_LIBRARY` or `libcuda.so.1`) and runs `cuInit`.
    /// A missing library is [`CudaError::NoDriver`]; a driver without a GPU
    /// [`CudaError::NoDevice`].
    pub fn load() -> Result<Driver, CudaError> {
        let path = std::env::var(CUDA_LIBRARY_ENV).unwrap_or_else(|_| "libcuda.so.1".into());
        // SAFETY: loading the NVIDIA driver runs its initialisers, which have no
        // preconditions on our side.
        let lib = unsafe { libloading::Library::new(&path) }.map_err(|e| CudaError::NoDriver {
            library: path.clone(),
            // libloading's message is "dlopen failed"; the reason is its source.
            reason: match std::error::Error::source(&e) {
                Some(why) => why.to_string(),
                None => e.to_string(),
            },
        })?;
        let api = Api::resolve(lib, &path)?;
        let d = Driver { api: Arc::new(api) };
        // SAFETY: cuInit(0) is the documented first call.
        let rc = unsafe { (d.api.cuInit)(0) };
        if rc == CUDA_ERROR_NO_DEVICE {
            return Err(CudaError::NoDevice {
                detail: "cuInit reports CUDA_ERROR_NO_DEVICE".into(),
            });
        }
        d.check(rc, "cuInit")?;
        Ok(d)
    }

    /// Turns a `CUresult` into `Ok` or an error naming `call` and the driver's error name.
    pub fn check(&self, rc: CuResult, call: &'static str) -> Result<(), CudaError> {
        if rc == CUDA_SUCCESS {
            return Ok(());
        }
        let mut name: *const c_char = std::ptr::null();
        // SAFETY: cuGetErrorName writes a pointer to a static string (or fails).
        let named = unsafe { (self.api.cuGetErrorName)(rc, &mut name) } == CUDA_SUCCESS;
        let name = if named && !name.is_null() {
            // SAFETY: a NUL-terminated static string owned by the driver.
            unsafe { CStr::from_ptr(name) }
                .to_string_lossy()
                .into_owned()
        } else {
            format!("error {rc}")
        };
        Err(CudaError::Driver {
            call,
            code: rc,
            name,
        })
    }

    /// The GPU with this ordinal (`NEOC_CUDA_DEVICE`, default 0) and what it is.
    pub fn device(&self, ordinal: i32) -> Result<DeviceInfo, CudaError> {
        let a = &self.api;
        let mut count = 0;
        // SAFETY: out-pointers to locals.
        self.check(
            unsafe { (a.cuDeviceGetCount)(&mut count) },
            "cuDeviceGetCount",
        )?;
        if count == 0 {
            return Err(CudaError::NoDevice {
                detail: "cuDeviceGetCount = 0".into(),
            });
        }
        if ordinal < 0 || ordinal >= count {
            return Err(CudaError::NoDevice {
                detail: format!("device {ordinal} asked for, the driver sees {count}"),
            });
        }
        let mut device = 0;
        // SAFETY: as above.
        self.check(
            unsafe { (a.cuDeviceGet)(&mut device, ordinal) },
            "cuDeviceGet",
        )?;
        let mut buf = [0 as c_char; 256];
        // SAFETY: the buffer holds 256 bytes, as passed.
        self.check(
            unsafe { (a.cuDeviceGetName)(buf.as_mut_ptr(), buf.len() as c_int, device) },
            "cuDeviceGetName",
        )?;
        // SAFETY: the driver NUL-terminates within the buffer.
        let name = unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        let (mut major, mut minor, mut version) = (0, 0, 0);
        // SAFETY: out-pointers to locals.
        unsafe {
            self.check(
                (a.cuDeviceGetAttribute)(&mut major, ATTR_CC_MAJOR, device),
                "cuDeviceGetAttribute",
            )?;
            self.check(
                (a.cuDeviceGetAttribute)(&mut minor, ATTR_CC_MINOR, device),
                "cuDeviceGetAttribute",
            )?;
            self.check((a.cuDriverGetVersion)(&mut version), "cuDriverGetVersion")?;
        }
        Ok(DeviceInfo {
            device,
            name,
            sm: (major.max(0) as u32) * 10 + minor.max(0) as u32,
            driver_version: version,
        })
    }

    /// Loads PTX text (NUL-terminated here) as a module; a JIT failure carries the
    /// driver's error log.
    pub fn load_ptx(&self, ptx: &str) -> Result<CuModule, CudaError> {
        let mut image = Vec::with_capacity(ptx.len() + 1);
        image.extend_from_slice(ptx.as_bytes());
        image.push(0);
        let mut log = vec![0u8; 16 * 1024];
        let mut options = [JIT_ERROR_LOG_BUFFER, JIT_ERROR_LOG_BUFFER_SIZE_BYTES];
        let mut values = [log.as_mut_ptr().cast::<c_void>(), log.len() as *mut c_void];
        let mut module: CuModule = std::ptr::null_mut();
        // SAFETY: image is NUL-terminated PTX; the option arrays have 2 entries each and
        // the log buffer outlives the call.
        let rc = unsafe {
            (self.api.cuModuleLoadDataEx)(
                &mut module,
                image.as_ptr().cast(),
                options.len() as c_uint,
                options.as_mut_ptr(),
                values.as_mut_ptr(),
            )
        };
        if rc != CUDA_SUCCESS {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let log = String::from_utf8_lossy(&log[..end]).trim().to_string();
            let err = self.check(rc, "cuModuleLoadDataEx").err();
            return Err(CudaError::Jit {
                driver: err.map(|e| e.to_string()).unwrap_or_default(),
                log,
            });
        }
        Ok(module)
    }
}
