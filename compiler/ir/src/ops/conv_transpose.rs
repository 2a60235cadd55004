//! Transposed convolution (ONNX `ConvTranspose`): N-d, grouped, strided, dilated.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__ConvTranspose.html>. Inputs `x[N, C,
//! in...]`, `w[C, M/group, k...]`, optional `bias[M]`; output `y[N, M, out...]` with
//! `out = stride·(in − 1) + output_padding + (k − 1)·dilation + 1 − pad_begin − pad_end`.
//! The frontend resolves `auto_pad` and `output_shape` into `pads`, which may be
//! negative (an `output_shape` larger than the natural size extends the output).
//!
//! Gather form, used by the reference and the kernel alike: output position `o` receives
//! input position `i` through tap `t` when `o + pad_begin − t·dilation = i·stride`.

use super::dims;
use crate::error::{shape_err, OpError, OpResult};
use crate::shape::{Shape, TensorType};
use crate::tensor::Tensor;

/// Largest window attribute accepted.
const MAX_WINDOW: i64 = 1 << 31;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConvTranspose {
    pub kernel: Vec<u64>,
    pub strides: Vec<u64>,
    /// Begin pads of each spatial dim, then end pads (`2k` entries; may be negative).
    pub pads: Vec<i64>,
    pub dilations: Vec<u64>,
    pub output_padding: Vec<u64>,
    pub group: u64,
}

impl ConvTranspose {
    pub(crate) fn attrs(&self) -> String {
        format!(
            "kernel={:?} strides={:?} pads={:?} dilations={:?} output_padding={:?} group={}",
            self.kernel, self.strides, self.pads, self.dilations, self.output_padding, self.group
        )
    }

    /// The output size of spatial dim `d` for an input of size `input`.
    pub fn output_size(&self, d: usize, input: u64) -> i64 {
        let k = self.kernel.len();
        self.strides[d] as i64 * (input as i64 - 1)
            + self.output_padding[d] as i64
            + (self.kernel[d] as i64 - 1) * self.dilations[d] as i64
            + 1
            - self.pads[d]
            - self.pads[k + d]
    }

    fn check(&self) -> OpResult<()> {
        let k = self.kernel.len();
        if self.strides.len() != k
            || self.dilations.len() != k
            || self.output_padding.len() != k
            || self.pads.len() != 2 * k
        {
            return Err(OpError::Attribute(
                "strides, dilations, output_padding and pads must match the kernel rank".into(),
            ));
        }
        let window = self
            .kernel
            .iter()
            .chain(&self.strides)
            .chain(&self.dilations);
        if window.clone().any(|&v| v == 0)
            || window
                .chain(&self.output_padding)
                .any(|&v| v as i64 > MAX_WINDOW)
        {
            return Err(OpError::Attribute(format!(
                "kernel {:?}, strides {:?} and dilations {:?} must be between 1 and 2^31",
                self.kernel, self.strides, self.dilations
            )));
        }
        if self.pads.iter().any(|p| p.abs() > MAX_WINDOW) {
            return Err(OpError::Attribute(format!(
                "pads {:?} are too large",
                self.pads
            )));
        }
        Ok(())
    }

    pub(crate) fn infer(
        &self,
        x: &TensorType,
        w: &TensorType,
        bias: Option<&TensorType>,
    ) -> OpResult<TensorType> {
        self.check()?;
        let (xd, wd) = (dims(x)?, dims(w)?);
        let k = self.kernel.len();
        if xd.len() != k + 2 || wd.len() != k + 2 {
            return shape_err(format!(
                "input rank {} and weight rank {} do not match a {k}-d transposed convolution",
                xd.len(),
                wd.len()
            ));
        }
        if self.group == 0 || xd[1] % self.group != 0 || wd[0] != xd[1] {
            return shape_err(format!(
                "weight {wd:?} does not match input channels {} in {} groups",
                xd[1], self.group
            ));
        }
        if wd[2..] != self.kernel[..] {
            return shape_err(format!(
                "weight {wd:?} does not match kernel_shape {:?}",
                self.kernel
            ));
        }
        let m = wd[1] * self.group;
        if let Some(b) = bias {
            if dims(b)? != [m] {
                return shape_err(format!("bias must be [{m}], got {}", b.shape));
            }
        }
        let mut out = vec![xd[0], m];
        for (d, &input) in xd[2..].iter().enumerate() {
            let size = self.output_size(d, input);
            if size <= 0 {
                return shape_err(format!(
                    "output size along spatial dim {d} would be {size} (input {input})"
                ));
            }
            out.push(size as u64);
        }
        Ok(TensorType {
            dtype: x.dtype,
            shape: Shape::fixed(&out),
        })
    }

    /// Reference evaluation (f64 accumulation).
    pub(crate) fn eval(&self, inputs: &[Option<&Tensor>], out: &TensorType) -> OpResult<Tensor> {
        let (Some(Some(x)), Some(Some(w))) = (inputs.first(), inputs.get(1)) else {
            return shape_err("ConvTranspose needs x and w");
        };
        let bias = inputs.get(2).copied().flatten().map(|b| b.to_f64_vec());
        let od = out.dims()?;
        let k = self.kernel.len();
        let (n, c, m) = (x.shape[0] as usize, x.shape[1] as usize, od[1] as usize);
        let g = self.group as usize;
        let (cg, mg) = (c / g, m / g);
        let in_sp: Vec<i64> = x.shape[2..].iter().map(|&v| v as i64).collect();
        let out_sp: Vec<usize> = od[2..].iter().map(|&v| v as usize).collect();
        let in_plane: usize = in_sp.iter().product::<i64>() as usize;
        let out_plane: usize = out_sp.iter().product();
        let taps: usize = self.kernel.iter().product::<u64>() as usize;
        let (xv, wv) = (x.to_f64_vec(), w.to_f64_vec());
        let unflatten = |mut flat: usize, sizes: &[usize]| {
            let mut v = vec![0usize; sizes.len()];
            for d in (0..sizes.len()).rev() {
                v[d] = flat % sizes[d];
                flat /= sizes[d];
            }
            v
        };
        let kernel: Vec<usize> = self.kernel.iter().map(|&v| v as usize).collect();
        // Input offset read by output position `o` through tap `t`, if any.
        let source = |o: &[usize], t: &[usize]| -> Option<usize> {
            let mut off = 0i64;
            for d in 0..k {
                let s = self.strides[d] as i64;
                let pos = o[d] as i64 + self.pads[d] - t[d] as i64 * self.dilations[d] as i64;
                if pos < 0 || pos % s != 0 || pos / s >= in_sp[d] {
                    return None;
                }
                off = off * in_sp[d] + pos / s;
            }
            Some(off as usize)
        };
        let mut y = vec![0.0; n * m * out_plane];
        for img in 0..n {
            for oc in 0..m {
                let (grp, mi) = (oc / mg, oc % mg);
                for o in 0..out_plane {
                    let oi = unflatten(o, &out_sp);
                    let mut acc = bias.as_ref().map_or(0.0, |b| b[oc]);
                    for t in 0..taps {
                        let ti = unflatten(t, &kernel);
                        let Some(off) = source(&oi, &ti) else {
                            continue;
                        };
                        for ci in 0..cg {
                            let ch = grp * cg + ci;
                            acc +=
                                xv[(img * c + ch) * in_plane + off] * wv[(ch * mg + mi) * taps + t];
                        }
                    }
                    y[(img * m + oc) * out_plane + o] = acc;
                }
            }
        }
        Ok(Tensor::from_f64_as(out.dtype, od, &y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    #[test]
    fn stride_two_spreads_each_input_over_the_kernel() {
        // x = [1, 2], w = [1, 10, 100], stride 2: y = [1, 10, 100+2, 20, 200].
        let c = ConvTranspose {
            kernel: vec![3],
            strides: vec![2],
            pads: vec![0, 0],
            dilations: vec![1],
            output_padding: vec![0],
            group: 1,
        };
        let x = Tensor::from_f32(vec![1, 1, 2], &[1.0, 2.0]);
        let w = Tensor::from_f32(vec![1, 1, 3], &[1.0, 10.0, 100.0]);
        let out = c
            .infer(
                &TensorType::new(DType::F32, &[1, 1, 2]),
                &TensorType::new(DType::F32, &[1, 1, 3]),
                None,
            )
            .unwrap();
        assert_eq!(out.dims().unwrap(), vec![1, 1, 5]);
        let y = c.eval(&[Some(&x), Some(&w)], &out).unwrap();
        assert_eq!(y.to_f32_vec(), vec![1.0, 10.0, 102.0, 20.0, 200.0]);
        // A negative end pad extends the output with positions no tap reaches.
        let c2 = ConvTranspose {
            pads: vec![1, -1],
            ..c
        };
        let out2 = c2
            .infer(
                &TensorType::new(DType::F32, &[1, 1, 2]),
                &TensorType::new(DType::F32, &[1, 1, 3]),
                None,
            )
            .unwrap();
        let y2 = c2.eval(&[Some(&x), Some(&w)], &out2).unwrap();
        assert_eq!(y2.to_f32_vec(), vec![10.0, 102.0, 20.0, 200.0, 0.0]);
    }
}
