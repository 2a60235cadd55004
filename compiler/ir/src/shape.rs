//! Shapes: dims that are static numbers or named symbols.

use crate::dtype::DType;
use crate::error::{shape_err, OpResult};
use std::fmt;

/// One dimension: a static size, or a named symbol (a batch size, a sequence length)
/// that must be bound before code generation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    Fixed(u64),
    Sym(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Sym(s) => write!(f, "{s}"),
        }
    }
}

/// A tensor shape, outermost dimension first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    pub fn fixed(dims: &[u64]) -> Shape {
        Shape(dims.iter().map(|&d| Dim::Fixed(d)).collect())
    }
    pub fn rank(&self) -> usize {
        self.0.len()
    }
    /// The static dims, or `None` when any dim is symbolic.
    pub fn as_fixed(&self) -> Option<Vec<u64>> {
        self.0
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => Some(*n),
                Dim::Sym(_) => None,
            })
            .collect()
    }
    /// Number of elements, when static and within [`MAX_ELEMENTS`].
    pub fn num_elements(&self) -> Option<u64> {
        self.as_fixed().and_then(|d| checked_elements(&d))
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// The largest number of elements (and the largest single dimension) a tensor may have.
/// Far above any real model, low enough that products of dims, strides and byte sizes
/// never overflow 64-bit arithmetic anywhere in the compiler.
pub const MAX_ELEMENTS: u64 = 1 << 40;

/// The element count of `dims`, or `None` when a dim or the product of the non-zero
/// dims exceeds [`MAX_ELEMENTS`].
pub fn checked_elements(dims: &[u64]) -> Option<u64> {
    let mut nonzero: u64 = 1;
    let mut zero = false;
    for &d in dims {
        if d > MAX_ELEMENTS {
            return None;
        }
        if d == 0 {
            zero = true;
        } else {
            nonzero = nonzero.checked_mul(d).filter(|&n| n <= MAX_ELEMENTS)?;
        }
    }
    Some(if zero { 0 } else { nonzero })
}

/// The type of a value: element type and shape. Printed as `f32[1,3,224,224]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Shape,
}

impl TensorType {
    pub fn new(dtype: DType, dims: &[u64]) -> TensorType {
        TensorType {
            dtype,
            shape: Shape::fixed(dims),
        }
    }
    pub fn rank(&self) -> usize {
        self.shape.rank()
    }
    /// Static dims; a shape error when a dim is still symbolic or the tensor is larger
    /// than [`MAX_ELEMENTS`].
    pub fn dims(&self) -> OpResult<Vec<u64>> {
        match self.shape.as_fixed() {
            Some(d) if checked_elements(&d).is_some() => Ok(d),
            Some(_) => shape_err(format!(
                "shape {} is too large (more than 2^40 elements)",
                self.shape
            )),
            None => shape_err(format!(
                "shape {} has symbolic dimensions; bind them with --input-shape",
                self.shape
            )),
        }
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.dtype, self.shape)
    }
}

/// Numpy-style (multidirectional) broadcast of several static shapes.
pub fn broadcast_shapes(shapes: &[&[u64]]) -> OpResult<Vec<u64>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1u64; rank];
    for s in shapes {
        let off = rank - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[off + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return shape_err(format!(
                    "shapes {} cannot be broadcast together",
                    shapes
                        .iter()
                        .map(|s| format!("{s:?}"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ));
            }
        }
    }
    Ok(out)
}

/// Normalises a possibly negative axis against `rank` (ONNX convention: `-1` is last).
pub fn normalize_axis(axis: i64, rank: usize) -> OpResult<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return shape_err(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(a as usize)
}

/// Row-major strides of `dims`, in elements.
pub fn strides(dims: &[u64]) -> Vec<u64> {
    let mut s = vec![1u64; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(
            broadcast_shapes(&[&[2, 3, 5, 7], &[5, 1]]).unwrap(),
            vec![2, 3, 5, 7]
        );
        assert_eq!(broadcast_shapes(&[&[], &[4]]).unwrap(), vec![4]);
        assert!(broadcast_shapes(&[&[3], &[4]]).is_err());
    }

    #[test]
    fn axes_normalise() {
        assert_eq!(normalize_axis(-1, 4).unwrap(), 3);
        assert!(normalize_axis(4, 4).is_err());
        assert!(normalize_axis(-5, 4).is_err());
    }
}
