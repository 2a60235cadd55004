//! Convolution (ONNX `Conv`, all opsets): N-d, grouped, strided, dilated, padded.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Conv.html>. `auto_pad` is resolved to
//! explicit pads by the frontend with [`resolve_auto_pad`], so the IR always carries
//! explicit `pads`.

use super::dims;
use crate::error::{shape_err, OpError, OpResult};
use crate::shape::{Shape, TensorType};

/// Attributes of a convolution over `k` spatial dims.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Conv {
    /// Kernel spatial size (`k` entries; equals the weight's trailing dims).
    pub kernel: Vec<u64>,
    pub strides: Vec<u64>,
    /// Begin pads for each spatial dim, then end pads (`2k` entries).
    pub pads: Vec<u64>,
    pub dilations: Vec<u64>,
    pub group: u64,
}

impl Conv {
    pub(crate) fn attrs(&self) -> String {
        format!(
            "kernel={:?} strides={:?} pads={:?} dilations={:?} group={}",
            self.kernel, self.strides, self.pads, self.dilations, self.group
        )
    }

    pub(crate) fn infer(
        &self,
        x: &TensorType,
        w: &TensorType,
        bias: Option<&TensorType>,
    ) -> OpResult<TensorType> {
        let (xd, wd) = (dims(x)?, dims(w)?);
        let k = self.kernel.len();
        if xd.len() != k + 2 || wd.len() != k + 2 {
            return shape_err(format!(
                "input rank {} and weight rank {} do not match a {k}-d convolution",
                xd.len(),
                wd.len()
            ));
        }
        check_window(&self.kernel, &self.strides, &self.pads, &self.dilations)?;
        if self.group == 0 || xd[1] % self.group != 0 || wd[0] % self.group != 0 {
            return Err(OpError::Attribute(format!(
                "group {} does not divide input channels {} and output channels {}",
                self.group, xd[1], wd[0]
            )));
        }
        if wd[1] * self.group != xd[1] {
            return shape_err(format!(
                "weight expects {} input channels per group, input has {} channels in {} groups",
                wd[1], xd[1], self.group
            ));
        }
        if wd[2..] != self.kernel[..] {
            return shape_err(format!(
                "weight spatial dims {:?} differ from kernel_shape {:?}",
                &wd[2..],
                self.kernel
            ));
        }
        if let Some(b) = bias {
            if dims(b)? != [wd[0]] {
                return shape_err(format!("bias shape {} is not [{}]", b.shape, wd[0]));
            }
        }
        let mut out = vec![xd[0], wd[0]];
        for i in 0..k {
            let padded = xd[2 + i] + self.pads[i] + self.pads[k + i];
            let span = self.dilations[i] * (self.kernel[i] - 1) + 1;
            if self.strides[i] == 0 || padded < span {
                return shape_err(format!(
                    "spatial dim {i}: window {span} is larger than the padded input {padded}"
                ));
            }
            out.push((padded - span) / self.strides[i] + 1);
        }
        Ok(TensorType {
            dtype: x.dtype,
            shape: Shape::fixed(&out),
        })
    }
}

/// Largest kernel size, stride, dilation or pad accepted (keeps window arithmetic far
/// from overflow).
const MAX_WINDOW: u64 = 1 << 31;

/// Checks window attributes shared by convolution and pooling: counts match the kernel
/// rank, kernel/stride/dilation are at least 1, nothing is absurdly large.
pub(crate) fn check_window(
    kernel: &[u64],
    strides: &[u64],
    pads: &[u64],
    dilations: &[u64],
) -> OpResult<()> {
    let k = kernel.len();
    if strides.len() != k || dilations.len() != k || pads.len() != 2 * k {
        return Err(OpError::Attribute(
            "strides, dilations and pads must match the kernel rank".into(),
        ));
    }
    let positive = |name: &str, v: &[u64]| {
        if v.iter().any(|&x| x == 0 || x > MAX_WINDOW) {
            Err(OpError::Attribute(format!(
                "{name} {v:?} must be between 1 and 2^31"
            )))
        } else {
            Ok(())
        }
    };
    positive("kernel_shape", kernel)?;
    positive("strides", strides)?;
    positive("dilations", dilations)?;
    if pads.iter().any(|&p| p > MAX_WINDOW) {
        return Err(OpError::Attribute(format!("pads {pads:?} are too large")));
    }
    Ok(())
}

/// How ONNX `auto_pad` chooses pads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoPad {
    NotSet,
    Valid,
    SameUpper,
    SameLower,
}

/// Explicit pads (`2k` entries, begins then ends) for an `auto_pad` mode, given the
/// input spatial dims; `explicit` is used for `NotSet`. Shared by Conv and pooling.
pub fn resolve_auto_pad(
    mode: AutoPad,
    input: &[u64],
    kernel: &[u64],
    strides: &[u64],
    dilations: &[u64],
    explicit: &[u64],
) -> Vec<u64> {
    let k = kernel.len();
    match mode {
        AutoPad::NotSet => {
            if explicit.len() == 2 * k {
                explicit.to_vec()
            } else {
                vec![0; 2 * k]
            }
        }
        AutoPad::Valid => vec![0; 2 * k],
        AutoPad::SameUpper | AutoPad::SameLower => {
            let mut pads = vec![0; 2 * k];
            for i in 0..k {
                let out = input[i].div_ceil(strides[i].max(1));
                let span = dilations[i] * (kernel[i] - 1) + 1;
                let needed = ((out.saturating_sub(1)) * strides[i] + span).saturating_sub(input[i]);
                let small = needed / 2;
                let big = needed - small;
                if mode == AutoPad::SameUpper {
                    pads[i] = small;
                    pads[k + i] = big;
                } else {
                    pads[i] = big;
                    pads[k + i] = small;
                }
            }
            pads
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    #[test]
    fn output_size_with_pads_strides_dilations() {
        let c = Conv {
            kernel: vec![3, 3],
            strides: vec![2, 1],
            pads: vec![1, 0, 2, 1],
            dilations: vec![2, 1],
            group: 1,
        };
        let x = TensorType::new(DType::F32, &[1, 4, 11, 9]);
        let w = TensorType::new(DType::F32, &[5, 4, 3, 3]);
        let y = c.infer(&x, &w, None).unwrap();
        // H: (11+1+2-5)/2+1 = 5; W: (9+0+1-3)/1+1 = 8
        assert_eq!(y.shape, Shape::fixed(&[1, 5, 5, 8]));
    }

    #[test]
    fn same_upper_puts_extra_pad_at_end() {
        let p = resolve_auto_pad(AutoPad::SameUpper, &[10], &[4], &[1], &[1], &[]);
        assert_eq!(p, vec![1, 2]);
        let p = resolve_auto_pad(AutoPad::SameLower, &[10], &[4], &[1], &[1], &[]);
        assert_eq!(p, vec![2, 1]);
    }
}
