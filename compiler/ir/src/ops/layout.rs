//! Blocked channel layout ("NCHWc"): the ops the `blocked-layout` pass inserts.
//!
//! A blocked tensor stores channels in blocks of `block` lanes innermost: a planar
//! `[N, C, S...]` tensor (any number of spatial dims `S`) becomes `[N, C/block, S...,
//! block]`, element `(n, c, s)` moving to `(n, c / block, s, c % block)`. A kernel then
//! finds `block` consecutive channels of one pixel in one vector: a depthwise
//! convolution vectorizes over channels however narrow the image, and a 1×1
//! convolution becomes a product whose columns are output channels (always full vector
//! tiles) rather than pixels (a 7×7 image is 49 columns: three vectors and a lane).
//!
//! The layout is ordinary shape information: a blocked tensor is a rank+1 tensor of the
//! same dtype, so memory planning, printing and the reference interpreter need nothing
//! special. Only the ops here know what the dims mean:
//! - [`Op::ToBlocked`](super::Op::ToBlocked) and [`Op::FromBlocked`](super::Op::FromBlocked)
//!   convert (`C` must be a multiple of `block`: no padding lanes, so every element of a
//!   blocked tensor is a real element of the planar one);
//! - [`BlockedConv`]: a 2-D convolution reading and writing blocked tensors. Its weights
//!   and bias keep the planar `Conv` layout (the lowering packs constant weights at
//!   compile time), so the op means exactly `ToBlocked(Conv(FromBlocked(x), w, b))`.

use super::conv::Conv;
use super::dims;
use crate::error::{shape_err, OpError, OpResult};
use crate::shape::{Shape, TensorType};
use crate::tensor::Tensor;

/// The block size of a layout conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Blocking {
    pub block: u64,
}

/// Planar dims `[N, C, S...]` → blocked `[N, C/block, S..., block]`.
pub fn blocked_dims(planar: &[u64], block: u64) -> OpResult<Vec<u64>> {
    if planar.len() < 2 || block == 0 || !planar[1].is_multiple_of(block) {
        return shape_err(format!(
            "cannot block {planar:?} in blocks of {block} channels (needs rank >= 2 and \
             a channel count divisible by the block)"
        ));
    }
    let mut d = vec![planar[0], planar[1] / block];
    d.extend_from_slice(&planar[2..]);
    d.push(block);
    Ok(d)
}

/// Blocked dims `[N, C/block, S..., block]` → planar `[N, C, S...]`.
pub fn planar_dims(blocked: &[u64], block: u64) -> OpResult<Vec<u64>> {
    match blocked.split_last() {
        Some((&b, rest)) if b == block && rest.len() >= 2 => {
            let mut d = vec![rest[0], rest[1] * block];
            d.extend_from_slice(&rest[2..]);
            Ok(d)
        }
        _ => shape_err(format!(
            "{blocked:?} is not a tensor blocked by {block} channels"
        )),
    }
}

fn with_dims(t: &TensorType, d: &[u64]) -> TensorType {
    TensorType {
        dtype: t.dtype,
        shape: Shape::fixed(d),
    }
}

/// Moves the elements of `x` (dims `from`) to the positions given by `map`: output
/// element `flat` takes input element `map(flat)`.
fn permuted(x: &Tensor, to: Vec<u64>, map: impl Fn(usize) -> usize) -> OpResult<Tensor> {
    let size = x.dtype.size_bytes();
    let n = x.num_elements() as usize;
    let bytes = x.bytes();
    let mut data = vec![0u8; bytes.len()];
    for flat in 0..n {
        let src = map(flat);
        data[flat * size..(flat + 1) * size].copy_from_slice(&bytes[src * size..(src + 1) * size]);
    }
    Tensor::from_bytes(x.dtype, to, data.into())
}

/// `(outer N·C/block, channel block lanes, spatial size)` of a planar shape.
fn split(planar: &[u64], block: u64) -> (usize, usize, usize) {
    let spatial: u64 = planar[2..].iter().product();
    (
        (planar[0] * planar[1] / block) as usize,
        block as usize,
        spatial as usize,
    )
}

impl Blocking {
    pub(crate) fn infer_to(&self, x: &TensorType) -> OpResult<TensorType> {
        Ok(with_dims(x, &blocked_dims(&dims(x)?, self.block)?))
    }

    pub(crate) fn infer_from(&self, x: &TensorType) -> OpResult<TensorType> {
        Ok(with_dims(x, &planar_dims(&dims(x)?, self.block)?))
    }

    /// Reference: planar → blocked.
    pub fn to_blocked(&self, x: &Tensor) -> OpResult<Tensor> {
        let to = blocked_dims(&x.shape, self.block)?;
        let (_, b, s) = split(&x.shape, self.block);
        // Output (o, s, l) ← input (o, l, s).
        permuted(x, to, |flat| {
            let (o, rest) = (flat / (s * b), flat % (s * b));
            let (p, l) = (rest / b, rest % b);
            (o * b + l) * s + p
        })
    }

    /// Reference: blocked → planar.
    pub fn from_blocked(&self, x: &Tensor) -> OpResult<Tensor> {
        let to = planar_dims(&x.shape, self.block)?;
        let (_, b, s) = split(&to, self.block);
        // Output (o, l, s) ← input (o, s, l).
        permuted(x, to, |flat| {
            let (o, rest) = (flat / (s * b), flat % (s * b));
            let (l, p) = (rest / s, rest % s);
            (o * s + p) * b + l
        })
    }
}

/// A convolution over blocked tensors: inputs `x` (blocked), `w` and optional `bias`
/// (planar, as for [`Conv`]); output blocked by the same `block`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlockedConv {
    pub conv: Conv,
    pub block: u64,
}

impl BlockedConv {
    pub(crate) fn attrs(&self) -> String {
        format!("block={} {}", self.block, self.conv.attrs())
    }

    pub(crate) fn infer(
        &self,
        x: &TensorType,
        w: &TensorType,
        bias: Option<&TensorType>,
    ) -> OpResult<TensorType> {
        if self.conv.kernel.len() != 2 {
            return Err(OpError::Attribute(format!(
                "a blocked convolution is 2-d, this one has {} spatial dims",
                self.conv.kernel.len()
            )));
        }
        let planar = with_dims(x, &planar_dims(&dims(x)?, self.block)?);
        let y = self.conv.infer(&planar, w, bias)?;
        Ok(with_dims(&y, &blocked_dims(&dims(&y)?, self.block)?))
    }

    /// Reference: unblock, convolve, block.
    pub(crate) fn eval(&self, inputs: &[Option<&Tensor>], out: &TensorType) -> OpResult<Tensor> {
        let blocking = Blocking { block: self.block };
        let Some(Some(x)) = inputs.first() else {
            return shape_err("BlockedConv needs x");
        };
        let xp = blocking.from_blocked(x)?;
        let mut ins = inputs.to_vec();
        ins[0] = Some(&xp);
        let planar_out = with_dims(out, &planar_dims(&dims(out)?, self.block)?);
        let y = crate::reference::conv(&self.conv, &ins, &planar_out)?;
        blocking.to_blocked(&y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    #[test]
    fn blocking_round_trips_and_moves_channels_innermost() {
        let x = Tensor::from_f64_as(
            DType::F32,
            vec![2, 4, 3],
            &(0..24).map(f64::from).collect::<Vec<_>>(),
        );
        let b = Blocking { block: 2 };
        let y = b.to_blocked(&x).unwrap();
        assert_eq!(y.shape, vec![2, 2, 3, 2]);
        // y[0, 1, 2, 1] = x[0, 3, 2] = 3*3 + 2.
        let v = y.to_f64_vec();
        assert_eq!(v[(3 + 2) * 2 + 1], 11.0);
        // y[1, 0, 1, 0] = x[1, 0, 1] = 12 + 1.
        assert_eq!(v[(2 * 3 + 1) * 2], 13.0);
        assert_eq!(b.from_blocked(&y).unwrap(), x);
        assert!(blocked_dims(&[1, 6, 3], 4).is_err());
        assert!(planar_dims(&[1, 6, 3], 4).is_err());
        assert_eq!(planar_dims(&[1, 3, 5, 4], 4).unwrap(), vec![1, 12, 5]);
    }
}
