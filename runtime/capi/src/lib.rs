//! The C ABI of the neoc runtime; `include/neoc.h` declares it (a test checks the two
//! agree). Build products: `libneoc.so` (cdylib) and `libneoc.a` (staticlib).
//!
//! Rules every function follows:
//! - only C types cross the boundary: opaque handles (`neoc_model`, `neoc_context`),
//!   fixed-width integers, `size_t`, byte pointers and NUL-terminated strings;
//! - every function that can fail returns a [`NeocStatus`]; the message of the last
//!   failure on the calling thread is read with [`neoc_last_error`];
//! - every pointer is checked for NULL, and a panic never unwinds into C: it is caught
//!   and reported as `NEOC_ERR_PANIC`;
//! - a `neoc_model` is immutable and may be used from many threads at once; a
//!   `neoc_context` serves one run at a time (one per thread).

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use neoc_runtime::{Context, Model, RuntimeError, TensorRef, TensorSpec};

/// The result of every fallible call (`neoc_status` in C).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeocStatus {
    Ok = 0,
    /// A required pointer argument was NULL.
    NullPointer = 1,
    /// An argument was out of range or malformed (index, io kind, UTF-8 path, sizes).
    InvalidArgument = 2,
    /// The artifact could not be read, is invalid, or cannot run on this machine.
    Load = 3,
    /// The run was refused (e.g. an input of the wrong size) or failed.
    Run = 4,
    /// A caller buffer is too small for what would be written to it.
    BufferTooSmall = 5,
    /// An internal bug: a panic was caught at the boundary.
    Panic = 6,
}

/// `neoc_io` values: which side of the signature a query is about.
pub const NEOC_IO_INPUT: i32 = 0;
pub const NEOC_IO_OUTPUT: i32 = 1;

/// A loaded model (`neoc_model` in C): the runtime model plus the C strings of its
/// tensor names, which live as long as the handle.
#[derive(Debug)]
pub struct NeocModel {
    model: Model,
    input_names: Vec<CString>,
    output_names: Vec<CString>,
}

/// An execution context (`neoc_context` in C).
#[derive(Debug)]
pub struct NeocContext {
    ctx: Context,
}

struct Failure {
    status: NeocStatus,
    message: String,
}

type CResult<T = ()> = Result<T, Failure>;

fn fail(status: NeocStatus, message: impl Into<String>) -> Failure {
    Failure {
        status,
        message: message.into(),
    }
}

fn runtime(status: NeocStatus) -> impl FnOnce(RuntimeError) -> Failure {
    move |e| fail(status, e.to_string())
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Runs `body`, turning a failure or a panic into a status and the thread's last error.
fn guard(body: impl FnOnce() -> CResult) -> NeocStatus {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => NeocStatus::Ok,
        Ok(Err(f)) => {
            set_last_error(&f.message);
            f.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            set_last_error(&format!(
                "internal error (panic) in the neoc runtime: {what}"
            ));
            NeocStatus::Panic
        }
    }
}

/// `ptr` as a shared reference, or a `NullPointer` failure naming `what`.
///
/// # Safety
/// A non-null `ptr` must point at a live `T` for the returned lifetime.
unsafe fn arg<'a, T>(ptr: *const T, what: &str) -> CResult<&'a T> {
    // SAFETY: the caller promises a non-null pointer is valid.
    unsafe { ptr.as_ref() }.ok_or_else(|| fail(NeocStatus::NullPointer, format!("{what} is NULL")))
}

/// `ptr` as a unique reference, or a `NullPointer` failure naming `what`.
///
/// # Safety
/// A non-null `ptr` must point at a live `T`, not otherwise accessed for the lifetime.
unsafe fn arg_mut<'a, T>(ptr: *mut T, what: &str) -> CResult<&'a mut T> {
    // SAFETY: as in `arg`, with exclusive access promised by the caller.
    unsafe { ptr.as_mut() }.ok_or_else(|| fail(NeocStatus::NullPointer, format!("{what} is NULL")))
}

/// Checks `out` and writes `value` to it.
///
/// # Safety
/// A non-null `out` must be valid for a write of `T`.
unsafe fn write_out<T>(out: *mut T, value: T, what: &str) -> CResult {
    if out.is_null() {
        return Err(fail(NeocStatus::NullPointer, format!("{what} is NULL")));
    }
    // SAFETY: non-null, and the caller promises it is valid for writes.
    unsafe { out.write(value) };
    Ok(())
}

/// `len` elements at `ptr` as a slice; an empty slice when `len` is 0 (`ptr` may then be
/// NULL).
///
/// # Safety
/// For `len > 0`, `ptr` must be valid for reads of `len` elements for the lifetime.
unsafe fn slice<'a, T>(ptr: *const T, len: usize, what: &str) -> CResult<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(fail(NeocStatus::NullPointer, format!("{what} is NULL")));
    }
    // SAFETY: non-null, and the caller promises `len` readable elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

fn names(specs: &[TensorSpec]) -> Vec<CString> {
    specs
        .iter()
        .map(|s| CString::new(s.name.replace('\0', "")).unwrap_or_default())
        .collect()
}

fn boxed(model: Model) -> *mut NeocModel {
    let input_names = names(model.inputs());
    let output_names = names(model.outputs());
    Box::into_raw(Box::new(NeocModel {
        model,
        input_names,
        output_names,
    }))
}

/// The message of the last call that failed on this thread ("" if none). The string is
/// owned by the library and valid until the next failing call on this thread.
#[no_mangle]
pub extern "C" fn neoc_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// The library version, e.g. "0.1.0" (static storage).
#[no_mangle]
pub extern "C" fn neoc_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

/// Loads the artifact at `path` (UTF-8, NUL-terminated; memory-mapped, so the file must
/// not change while loaded) into `*out`.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string; `out` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn neoc_model_load(
    path: *const c_char,
    out: *mut *mut NeocModel,
) -> NeocStatus {
    guard(|| {
        if path.is_null() {
            return Err(fail(NeocStatus::NullPointer, "path is NULL"));
        }
        if out.is_null() {
            return Err(fail(NeocStatus::NullPointer, "out is NULL"));
        }
        // SAFETY: non-null and NUL-terminated by the caller's contract.
        let path = unsafe { CStr::from_ptr(path) }
            .to_str()
            .map_err(|_| fail(NeocStatus::InvalidArgument, "path is not valid UTF-8"))?;
        let model = Model::load(path).map_err(runtime(NeocStatus::Load))?;
        // SAFETY: checked non-null above; valid for a write by contract.
        unsafe { write_out(out, boxed(model), "out") }
    })
}

/// Loads an artifact held in memory (`len` bytes at `data`, copied) into `*out`.
///
/// # Safety
/// `data` must be valid for reads of `len` bytes; `out` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn neoc_model_load_bytes(
    data: *const u8,
    len: usize,
    out: *mut *mut NeocModel,
) -> NeocStatus {
    guard(|| {
        if out.is_null() {
            return Err(fail(NeocStatus::NullPointer, "out is NULL"));
        }
        // SAFETY: `len` readable bytes by contract.
        let bytes = unsafe { slice(data, len, "data") }?;
        let model = Model::from_bytes(bytes.to_vec()).map_err(runtime(NeocStatus::Load))?;
        // SAFETY: checked non-null above.
        unsafe { write_out(out, boxed(model), "out") }
    })
}

/// Verifies the model's weights against the artifact's checksum now. A file's weights are
/// otherwise checked on the first run (loading does not read them); `neoc_model_load_bytes`
/// checks them at load. Fails with `NEOC_ERR_LOAD` when they are corrupted.
///
/// # Safety
/// `model` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn neoc_model_verify(model: *const NeocModel) -> NeocStatus {
    guard(|| {
        // SAFETY: live handle or NULL by contract.
        let m = unsafe { arg(model, "model") }?;
        m.model.verify().map_err(runtime(NeocStatus::Load))
    })
}

/// Frees a model from `neoc_model_load*`; NULL is ignored. No context may be running it.
///
/// # Safety
/// `model` must be NULL or a handle not yet freed.
#[no_mangle]
pub unsafe extern "C" fn neoc_model_free(model: *mut NeocModel) {
    if !model.is_null() {
        // SAFETY: made by Box::into_raw in `boxed`, freed once by contract.
        let b = unsafe { Box::from_raw(model) };
        // Dropping unloads code; never let a panic there unwind into C.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(b)));
    }
}

fn specs(model: &NeocModel, io: i32) -> CResult<(&[TensorSpec], &[CString])> {
    match io {
        NEOC_IO_INPUT => Ok((model.model.inputs(), &model.input_names)),
        NEOC_IO_OUTPUT => Ok((model.model.outputs(), &model.output_names)),
        _ => Err(fail(
            NeocStatus::InvalidArgument,
            format!("io must be NEOC_IO_INPUT (0) or NEOC_IO_OUTPUT (1), not {io}"),
        )),
    }
}

fn spec(model: &NeocModel, io: i32, index: usize) -> CResult<(&TensorSpec, &CString)> {
    let (s, n) = specs(model, io)?;
    match (s.get(index), n.get(index)) {
        (Some(s), Some(n)) => Ok((s, n)),
        _ => Err(fail(
            NeocStatus::InvalidArgument,
            format!(
                "{} index {index} out of range (the model has {})",
                if io == NEOC_IO_INPUT {
                    "input"
                } else {
                    "output"
                },
                s.len()
            ),
        )),
    }
}

/// The number of inputs (`io` = NEOC_IO_INPUT) or outputs (NEOC_IO_OUTPUT).
///
/// # Safety
/// `model` must be NULL or a live handle; `out` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn neoc_model_tensor_count(
    model: *const NeocModel,
    io: i32,
    out: *mut usize,
) -> NeocStatus {
    guard(|| {
        // SAFETY: live handle or NULL by contract.
        let m = unsafe { arg(model, "model") }?;
        let n = specs(m, io)?.0.len();
        // SAFETY: NULL or writable by contract.
        unsafe { write_out(out, n, "out") }
    })
}

/// The name of a tensor, NUL-terminated, owned by the model (valid until it is freed).
///
/// # Safety
/// `model` must be NULL or a live handle; `out` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn neoc_model_tensor_name(
    model: *const NeocModel,
    io: i32,
    index: usize,
    out: *mut *const c_char,
) -> NeocStatus {
    guard(|| {
        // SAFETY: live handle or NULL by contract.
        let m = unsafe { arg(model, "model") }?;
        let (_, name) = spec(m, io, index)?;
        // SAFETY: NULL or writable by contract.
        unsafe { write_out(out, name.as_ptr(), "out") }
    })
}

/// The dtype code of a tensor: the artifact format's stable code (NEOC_DTYPE_F32 = 1, …).
///
/// # Safety
/// `model` must be NULL or a live handle; `out` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn neoc_model_tensor_dtype(
    model: *const NeocModel,
    io: i32,
    index: usize,
    out: *mut u32,
) -> NeocStatus {
    guard(|| {
        // SAFETY: live handle or NULL by contract.
        let m = unsafe { arg(model, "model") }?;
        let (s, _) = spec(m, io, index)?;
        // SAFETY: NULL or writable by contract.
        unsafe { write_out(out, s.dtype.code(), "out") }
    })
}

/// The rank (number of dimensions) of a tensor.
///
/// # Safety
/// `model` must be NULL or a live handle; `out` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn neoc_model_tensor_rank(
    model: *const NeocModel,
    io: i32,
    index: usize,
    out: *mut usize,
) -> NeocStatus {
    guard(|| {
        // SAFETY: live handle or NULL by contract.
        let m = unsafe { arg(model, "model") }?;
        let (s, _) = spec(m, io, index)?;
        // SAFETY: NULL or writable by contract.
        unsafe { write_out(out, s.shape.len(), "out") }
    })
}

/// Writes a tensor's dimensions to `dims[0..rank]`; `capacity` is the length of `dims`
/// (NEOC_ERR_BUFFER_TOO_SMALL if below the rank; `dims` may be NULL for rank 0).
///
/// # Safety
/// `model` must be NULL or a live handle; `dims` valid for `capacity` writes.
#[no_mangle]
pub unsafe extern "C" fn neoc_model_tensor_dims(
    model: *const NeocModel,
    io: i32,
    index: usize,
    dims: *mut u64,
    capacity: usize,
) -> NeocStatus {
    guard(|| {
        // SAFETY: live handle or NULL by contract.
        let m = unsafe { arg(model, "model") }?;
        let (s, _) = spec(m, io, index)?;
        if capacity < s.shape.len() {
            return Err(fail(
                NeocStatus::BufferTooSmall,
                format!(
                    "dims holds {capacity}, the tensor has rank {}",
                    s.shape.len()
                ),
            ));
        }
        if s.shape.is_empty() {
            return Ok(());
        }
        if dims.is_null() {
            return Err(fail(NeocStatus::NullPointer, "dims is NULL"));
        }
        // SAFETY: non-null and valid for `capacity >= rank` writes by contract.
        let d = unsafe { std::slice::from_raw_parts_mut(dims, s.shape.len()) };
        d.copy_from_slice(&s.shape);
        Ok(())
    })
}

/// The size in bytes of a tensor's data (what a run reads or writes for it).
///
/// # Safety
/// `model` must be NULL or a live handle; `out` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn neoc_model_tensor_byte_size(
    model: *const NeocModel,
    io: i32,
    index: usize,
    out: *mut usize,
) -> NeocStatus {
    guard(|| {
        // SAFETY: live handle or NULL by contract.
        let m = unsafe { arg(model, "model") }?;
        let (s, _) = spec(m, io, index)?;
        let n = usize::try_from(s.byte_len())
            .map_err(|_| fail(NeocStatus::InvalidArgument, "tensor too large for size_t"))?;
        // SAFETY: NULL or writable by contract.
        unsafe { write_out(out, n, "out") }
    })
}

/// A new execution context for `model` in `*out`; `threads` workers split each parallel
/// kernel (1: none, 0: one per CPU). One context serves one run at a time.
///
/// # Safety
/// `model` must be NULL or a live handle; `out` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn neoc_context_new(
    model: *const NeocModel,
    threads: usize,
    out: *mut *mut NeocContext,
) -> NeocStatus {
    guard(|| {
        // SAFETY: live handle or NULL by contract.
        let m = unsafe { arg(model, "model") }?;
        if out.is_null() {
            return Err(fail(NeocStatus::NullPointer, "out is NULL"));
        }
        let ctx = m
            .model
            .new_context_with_threads(threads)
            .map_err(runtime(NeocStatus::Load))?;
        let p = Box::into_raw(Box::new(NeocContext { ctx }));
        // SAFETY: checked non-null above.
        unsafe { write_out(out, p, "out") }
    })
}

/// Frees a context; NULL is ignored.
///
/// # Safety
/// `ctx` must be NULL or a handle not yet freed and not running.
#[no_mangle]
pub unsafe extern "C" fn neoc_context_free(ctx: *mut NeocContext) {
    if !ctx.is_null() {
        // SAFETY: made by Box::into_raw in `neoc_context_new`, freed once by contract.
        let b = unsafe { Box::from_raw(ctx) };
        let _ = catch_unwind(AssertUnwindSafe(move || drop(b)));
    }
}

/// Runs `model` with `ctx`. `inputs[i]` holds input i's data (`input_sizes[i]` bytes,
/// exactly its byte size, little-endian, in signature order), read in place (copied only
/// when not aligned for its dtype). `outputs[i]` receives output i (`output_sizes[i]`
/// bytes available, at least its byte size). Counts must equal the model's.
///
/// # Safety
/// Handles NULL or live; `inputs`/`input_sizes` valid for `n_inputs` reads and each
/// `inputs[i]` for `input_sizes[i]` bytes; likewise `outputs` for writes. Output buffers
/// must not overlap inputs or each other.
#[no_mangle]
pub unsafe extern "C" fn neoc_run(
    ctx: *mut NeocContext,
    model: *const NeocModel,
    inputs: *const *const c_void,
    input_sizes: *const usize,
    n_inputs: usize,
    outputs: *const *mut c_void,
    output_sizes: *const usize,
    n_outputs: usize,
) -> NeocStatus {
    guard(|| {
        // SAFETY: live handles or NULL by contract.
        let c = unsafe { arg_mut(ctx, "ctx") }?;
        // SAFETY: as above.
        let m = unsafe { arg(model, "model") }?;
        let specs_in = m.model.inputs();
        let specs_out = m.model.outputs();
        if n_inputs != specs_in.len() || n_outputs != specs_out.len() {
            return Err(fail(
                NeocStatus::InvalidArgument,
                format!(
                    "{}: the model has {} inputs and {} outputs; given {n_inputs} and {n_outputs}",
                    m.model.file(),
                    specs_in.len(),
                    specs_out.len()
                ),
            ));
        }
        // SAFETY: arrays of n_inputs / n_outputs elements by contract.
        let (ins, in_sizes) = unsafe {
            (
                slice(inputs, n_inputs, "inputs")?,
                slice(input_sizes, n_inputs, "input_sizes")?,
            )
        };
        // SAFETY: as above.
        let (outs, out_sizes) = unsafe {
            (
                slice(outputs, n_outputs, "outputs")?,
                slice(output_sizes, n_outputs, "output_sizes")?,
            )
        };
        let mut refs = Vec::with_capacity(n_inputs);
        for (i, ((&p, &n), s)) in ins.iter().zip(in_sizes).zip(specs_in).enumerate() {
            // SAFETY: `inputs[i]` readable for `input_sizes[i]` bytes by contract; the
            // runtime checks the size against the signature.
            let data = unsafe { slice(p.cast::<u8>(), n, &format!("inputs[{i}]")) }?;
            refs.push(TensorRef::new(s.dtype, &s.shape, data));
        }
        for (i, (&n, s)) in out_sizes.iter().zip(specs_out).enumerate() {
            if (n as u64) < s.byte_len() {
                return Err(fail(
                    NeocStatus::BufferTooSmall,
                    format!(
                        "{}: output {i} ({} {}) needs {} bytes, outputs[{i}] has {n}",
                        m.model.file(),
                        s.name,
                        s.type_string(),
                        s.byte_len()
                    ),
                ));
            }
            if n > 0 && outs[i].is_null() {
                return Err(fail(
                    NeocStatus::NullPointer,
                    format!("outputs[{i}] is NULL"),
                ));
            }
        }
        let results = c
            .ctx
            .run(&m.model, &refs)
            .map_err(runtime(NeocStatus::Run))?;
        for (i, t) in results.iter().enumerate() {
            let bytes = t.as_bytes();
            if bytes.is_empty() {
                continue;
            }
            // SAFETY: outputs[i] is non-null (checked) and writable for
            // output_sizes[i] >= bytes.len() bytes, not overlapping `bytes` (ours).
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), outs[i].cast::<u8>(), bytes.len())
            };
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last() -> String {
        // SAFETY: neoc_last_error returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(neoc_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    #[allow(clippy::panic)]
    fn panics_become_a_status_and_a_message() {
        let s = guard(|| panic!("kernel table corrupt"));
        assert_eq!(s, NeocStatus::Panic);
        assert!(last().contains("kernel table corrupt"), "{}", last());
        assert_eq!(guard(|| Ok(())), NeocStatus::Ok);
        let s = guard(|| Err(fail(NeocStatus::Run, "bad\0input")));
        assert_eq!(s, NeocStatus::Run);
        assert_eq!(last(), "bad input");
    }

    #[test]
    fn last_error_is_per_thread() {
        set_last_error("main thread");
        let other = std::thread::spawn(|| {
            set_last_error("other thread");
            last()
        })
        .join();
        assert_eq!(other.ok().as_deref(), Some("other thread"));
        assert_eq!(last(), "main thread");
    }
}
