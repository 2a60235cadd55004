//! What a TensorFlow tensor is during import: an IR value, possibly in two layouts.
//!
//! TF models are NHWC; the IR's convolution, pooling and batch norm are NCHW, and the
//! optimizer's transpose cancellation only removes back-to-back transposes. Putting a
//! Transpose pair around every convolution would leave a transpose between each
//! convolution and the activation, bias or residual add that follows it, none of which
//! the optimizer removes. So the import tracks layouts itself: a rank-4 tensor may be
//! held as its TF (`plain`, NHWC) value, as the NCHW permutation of it
//! (`Transpose(plain, [0, 3, 1, 2])`), or both. Layout-sensitive ops (Conv2D, pools,
//! FusedBatchNorm) take the NCHW form and produce only an NCHW result;
//! layout-agnostic ones (elementwise arithmetic and activations, BiasAdd, Pad, Mean,
//! ConcatV2, ...) run in whichever form their operands already have, permuting their
//! axes and constant operands at import; everything else asks for the plain form. A
//! form is materialised (one Transpose) only when asked for and then cached, so a
//! Keras CNN gets one Transpose after its input and none between its layers.

use neoc_ir::ops::Conv;
use neoc_ir::ValueId;
use std::collections::HashMap;

/// The permutation from TF's NHWC to the IR's NCHW (`nchw = Transpose(nhwc, TO_NCHW)`).
pub(crate) const TO_NCHW: [usize; 4] = [0, 3, 1, 2];
/// The inverse permutation.
pub(crate) const TO_NHWC: [usize; 4] = [0, 2, 3, 1];

/// A tensor's IR forms; at least one is present.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Forms {
    pub(crate) plain: Option<ValueId>,
    pub(crate) nchw: Option<ValueId>,
}

/// Index of a tensor in [`Values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TensorId(pub(crate) usize);

/// A value of the TF graph: a tensor, or a resource handle (a variable), whose
/// `ReadVariableOp` yields the constant held here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Val {
    Tensor(TensorId),
    Resource(ValueId),
}

/// How a tensor was made, for the one pattern that spans several TF ops: a dilated
/// convolution, which TF writes as `SpaceToBatchND → Conv2D → BatchToSpaceND`.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// `SpaceToBatchND` of the NHWC `input` over H and W.
    SpaceToBatch {
        input: TensorId,
        block: [u64; 2],
        /// `[[top, bottom], [left, right]]`.
        pads: [[u64; 2]; 2],
    },
    /// A stride-1, undilated, unpadded NHWC convolution of such a tensor: `conv` with
    /// the IR weights `w`, to be redone dilated on `input`.
    BatchedConv {
        input: TensorId,
        block: [u64; 2],
        pads: [[u64; 2]; 2],
        conv: Conv,
        w: ValueId,
    },
}

/// Every tensor imported so far, with its forms (the materialisation cache).
#[derive(Debug, Default)]
pub(crate) struct Values {
    forms: Vec<Forms>,
    origins: HashMap<usize, Origin>,
}

impl Values {
    pub(crate) fn push(&mut self, f: Forms) -> TensorId {
        self.forms.push(f);
        TensorId(self.forms.len() - 1)
    }

    pub(crate) fn get(&self, t: TensorId) -> Forms {
        self.forms.get(t.0).copied().unwrap_or_default()
    }

    pub(crate) fn set(&mut self, t: TensorId, f: Forms) {
        if let Some(slot) = self.forms.get_mut(t.0) {
            *slot = f;
        }
    }

    pub(crate) fn origin(&self, t: TensorId) -> Option<&Origin> {
        self.origins.get(&t.0)
    }

    pub(crate) fn set_origin(&mut self, t: TensorId, o: Origin) {
        self.origins.insert(t.0, o);
    }
}
