//! Tensors passed to and returned from a run: [`Tensor`] owns 64-byte-aligned data,
//! [`TensorRef`] borrows caller data (any alignment; the runtime copies when needed).

use std::alloc::{self, Layout};
use std::fmt;
use std::ptr::NonNull;

use neoc_artifact::{format_type, DType};

use crate::{Result, RuntimeError};

/// Alignment of every buffer the runtime allocates (arena, outputs, copied weights).
pub const BUFFER_ALIGN: usize = 64;

#[repr(C, align(64))]
struct Align64([u8; BUFFER_ALIGN]);

/// A zero-initialised, 64-byte-aligned, fixed-size byte buffer.
pub(crate) struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: AlignedBuf uniquely owns its allocation, like Vec<u8>.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only hands out &[u8].
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    fn layout(len: usize) -> Result<Layout> {
        Layout::from_size_align(len, BUFFER_ALIGN).map_err(|_| RuntimeError::TooLarge {
            what: "buffer".into(),
            bytes: len as u64,
        })
    }

    /// A zeroed buffer of `len` bytes.
    pub fn zeroed(len: usize) -> Result<Self> {
        let layout = Self::layout(len)?;
        if len == 0 {
            return Ok(AlignedBuf {
                ptr: NonNull::<Align64>::dangling().cast(),
                len: 0,
            });
        }
        // SAFETY: layout has non-zero size.
        let p = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(p).ok_or(RuntimeError::OutOfMemory { bytes: len as u64 })?;
        Ok(AlignedBuf { ptr, len })
    }

    /// A buffer of `len` bytes for a size given as u64 (from a model file).
    pub fn zeroed_u64(len: u64, what: &str) -> Result<Self> {
        let n = usize::try_from(len).map_err(|_| RuntimeError::TooLarge {
            what: what.into(),
            bytes: len,
        })?;
        Self::zeroed(n)
    }

    /// A copy of `bytes`.
    pub fn copy_of(bytes: &[u8]) -> Result<Self> {
        let mut b = Self::zeroed(bytes.len())?;
        b.as_mut_slice().copy_from_slice(bytes);
        Ok(b)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr is valid for len initialised bytes (or dangling and aligned for len 0).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self gives unique access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if self.len != 0 {
            if let Ok(layout) = Self::layout(self.len) {
                // SAFETY: allocated in `zeroed` with this very layout.
                unsafe { alloc::dealloc(self.ptr.as_ptr(), layout) };
            }
        }
    }
}

impl Clone for AlignedBuf {
    fn clone(&self) -> Self {
        match Self::copy_of(self.as_slice()) {
            Ok(b) => b,
            // Like Vec::clone: an allocation failure here aborts.
            Err(_) => match Self::layout(self.len) {
                Ok(layout) => alloc::handle_alloc_error(layout),
                Err(_) => std::process::abort(),
            },
        }
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlignedBuf({} bytes)", self.len)
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Rust element types with a matching [`DType`], for typed tensor access: `f32`, `f64`,
/// `i8`, `u8`, `i16`, `u16`, `i32`, `u32`, `i64`, `u64` (sealed: the runtime knows the
/// layout of each).
///
/// ```
/// use neoc_runtime::{DType, Element, Tensor};
/// fn sum<T: Element + Into<f64>>(t: &Tensor) -> Option<f64> {
///     Some(t.as_slice::<T>()?.iter().map(|&v| v.into()).sum())
/// }
/// assert_eq!(<u8 as Element>::DTYPE, DType::U8);
/// let t = Tensor::from_slice([3], &[1.5f32, 2.0, 4.5])?;
/// assert_eq!(sum::<f32>(&t), Some(8.0));
/// assert_eq!(sum::<i32>(&t), None);
/// # Ok::<(), neoc_runtime::RuntimeError>(())
/// ```
pub trait Element: sealed::Sealed + Copy + 'static {
    const DTYPE: DType;
}

macro_rules! elements {
    ($($t:ty => $d:ident),* $(,)?) => {
        $(
            impl sealed::Sealed for $t {}
            impl Element for $t {
                const DTYPE: DType = DType::$d;
            }
        )*
    };
}

elements!(f32 => F32, f64 => F64, i8 => I8, u8 => U8, i16 => I16, u16 => U16, i32 => I32,
          u32 => U32, i64 => I64, u64 => U64);

fn as_bytes<T: Element>(data: &[T]) -> &[u8] {
    // SAFETY: Element types are plain numbers without padding; u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data)) }
}

fn as_bytes_mut<T: Element>(data: &mut [T]) -> &mut [u8] {
    // SAFETY: as in as_bytes; any byte pattern written is a valid T.
    unsafe {
        std::slice::from_raw_parts_mut(data.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(data))
    }
}

fn byte_len(dtype: DType, shape: &[u64]) -> Option<u64> {
    shape
        .iter()
        .try_fold(dtype.size_bytes() as u64, |acc, &d| acc.checked_mul(d))
}

/// An owned tensor with 64-byte-aligned data: what a run returns.
#[derive(Clone)]
pub struct Tensor {
    dtype: DType,
    shape: Vec<u64>,
    data: AlignedBuf,
}

impl Tensor {
    /// A tensor of zeros.
    pub fn zeros(dtype: DType, shape: impl Into<Vec<u64>>) -> Result<Tensor> {
        let shape = shape.into();
        let ty = || format_type(dtype, &shape);
        let len = byte_len(dtype, &shape).ok_or_else(|| RuntimeError::TooLarge {
            what: format!("tensor {}", ty()),
            bytes: u64::MAX,
        })?;
        let data = AlignedBuf::zeroed_u64(len, &format!("tensor {}", ty()))?;
        Ok(Tensor { dtype, shape, data })
    }

    /// A tensor holding a copy of `bytes`, which must be exactly the size of `dtype[shape]`.
    pub fn from_bytes(dtype: DType, shape: impl Into<Vec<u64>>, bytes: &[u8]) -> Result<Tensor> {
        let mut t = Tensor::zeros(dtype, shape)?;
        if t.data.len() != bytes.len() {
            return Err(RuntimeError::TensorSize {
                ty: format_type(dtype, &t.shape),
                expected: t.data.len() as u64,
                found: bytes.len() as u64,
            });
        }
        t.data.as_mut_slice().copy_from_slice(bytes);
        Ok(t)
    }

    /// A tensor holding a copy of `data`, whose length must match `shape`.
    ///
    /// ```
    /// use neoc_runtime::{DType, Tensor};
    /// let t = Tensor::from_slice([2, 3], &[1i32, 2, 3, 4, 5, 6])?;
    /// assert_eq!((t.dtype(), t.shape(), t.len()), (DType::I32, &[2u64, 3][..], 6));
    /// assert_eq!(t.as_slice::<i32>(), Some(&[1, 2, 3, 4, 5, 6][..]));
    /// assert_eq!(t.as_slice::<f32>(), None); // typed access checks the dtype
    /// assert!(Tensor::from_slice([4], &[1.0f32; 3]).is_err()); // 3 values for 4 elements
    /// # Ok::<(), neoc_runtime::RuntimeError>(())
    /// ```
    pub fn from_slice<T: Element>(shape: impl Into<Vec<u64>>, data: &[T]) -> Result<Tensor> {
        Tensor::from_bytes(T::DTYPE, shape, as_bytes(data))
    }

    /// A float32 tensor; `data.len()` must be the product of `shape`.
    pub fn from_f32(shape: impl Into<Vec<u64>>, data: Vec<f32>) -> Result<Tensor> {
        Tensor::from_slice(shape, &data)
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size_bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.data.len() == 0
    }

    /// The raw little-endian data.
    pub fn as_bytes(&self) -> &[u8] {
        self.data.as_slice()
    }

    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.data.as_mut_slice()
    }

    /// The elements, if the dtype is `T`'s.
    pub fn as_slice<T: Element>(&self) -> Option<&[T]> {
        if self.dtype != T::DTYPE {
            return None;
        }
        // SAFETY: the buffer is 64-aligned, holds len() initialised elements of T's size,
        // and every bit pattern is a valid T.
        Some(unsafe { std::slice::from_raw_parts(self.data.as_ptr().cast::<T>(), self.len()) })
    }

    /// The elements, mutably, if the dtype is `T`'s.
    pub fn as_slice_mut<T: Element>(&mut self) -> Option<&mut [T]> {
        if self.dtype != T::DTYPE {
            return None;
        }
        let n = self.len();
        // SAFETY: as in as_slice, with unique access through &mut self.
        Some(unsafe { std::slice::from_raw_parts_mut(self.data.as_mut_ptr().cast::<T>(), n) })
    }

    /// The elements, if the dtype is float32.
    pub fn as_f32(&self) -> Option<&[f32]> {
        self.as_slice()
    }

    /// A borrowed view, to feed this tensor to another run.
    pub fn view(&self) -> TensorRef<'_> {
        TensorRef {
            dtype: self.dtype,
            shape: &self.shape,
            data: self.data.as_slice(),
        }
    }

    pub(crate) fn data_mut_ptr(&mut self) -> *mut u8 {
        self.data.as_mut_ptr()
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor({})", format_type(self.dtype, &self.shape))
    }
}

/// A borrowed input tensor. Its data may have any alignment; sizes are checked when it
/// is passed to a run.
#[derive(Debug, Clone, Copy)]
pub struct TensorRef<'a> {
    pub dtype: DType,
    pub shape: &'a [u64],
    /// Little-endian element data, exactly `dtype.size_bytes() * product(shape)` bytes.
    pub data: &'a [u8],
}

impl<'a> TensorRef<'a> {
    pub fn new(dtype: DType, shape: &'a [u64], data: &'a [u8]) -> Self {
        TensorRef { dtype, shape, data }
    }

    /// Borrows typed data, without copying: the run reads `data` in place (a `&[T]` is
    /// always aligned for `T`). Its length is checked against `shape` by the run.
    ///
    /// ```
    /// use neoc_runtime::{DType, TensorRef};
    /// let pixels = vec![0u8; 3 * 4 * 4];
    /// let t = TensorRef::from_slice(&[1, 3, 4, 4], &pixels);
    /// assert_eq!((t.dtype, t.type_string()), (DType::U8, "uint8[1,3,4,4]".to_string()));
    /// assert!(std::ptr::eq(t.data.as_ptr(), pixels.as_ptr())); // the caller's buffer itself
    /// ```
    pub fn from_slice<T: Element>(shape: &'a [u64], data: &'a [T]) -> Self {
        TensorRef {
            dtype: T::DTYPE,
            shape,
            data: as_bytes(data),
        }
    }

    pub fn f32(shape: &'a [u64], data: &'a [f32]) -> Self {
        Self::from_slice(shape, data)
    }

    /// `float32[1,3,224,224]`.
    pub fn type_string(&self) -> String {
        format_type(self.dtype, self.shape)
    }

    /// The byte length its dtype and shape call for (`None` on overflow).
    pub(crate) fn expected_len(&self) -> Option<u64> {
        byte_len(self.dtype, self.shape)
    }
}

/// A caller-owned output buffer for [`Context::run_into`](crate::Context::run_into).
/// The run writes straight into it when its data is [`BUFFER_ALIGN`]-aligned, as a
/// [`Tensor`]'s always is (so a `Tensor` allocated once and passed to every run costs no
/// allocation and no copy); other buffers get the result through one copy.
#[derive(Debug)]
pub struct TensorMut<'a> {
    pub dtype: DType,
    pub shape: &'a [u64],
    /// Little-endian element data, exactly `dtype.size_bytes() * product(shape)` bytes.
    pub data: &'a mut [u8],
}

impl<'a> TensorMut<'a> {
    pub fn new(dtype: DType, shape: &'a [u64], data: &'a mut [u8]) -> Self {
        TensorMut { dtype, shape, data }
    }

    /// Borrows typed data to be overwritten by a run.
    pub fn from_slice<T: Element>(shape: &'a [u64], data: &'a mut [T]) -> Self {
        TensorMut {
            dtype: T::DTYPE,
            shape,
            data: as_bytes_mut(data),
        }
    }

    /// `float32[1,1000]`.
    pub fn type_string(&self) -> String {
        format_type(self.dtype, self.shape)
    }
}

impl<'a> From<&'a mut Tensor> for TensorMut<'a> {
    fn from(t: &'a mut Tensor) -> Self {
        TensorMut {
            dtype: t.dtype,
            shape: &t.shape,
            data: t.data.as_mut_slice(),
        }
    }
}

impl<'a> From<&'a Tensor> for TensorRef<'a> {
    fn from(t: &'a Tensor) -> Self {
        t.view()
    }
}
