//! Convolution and pooling: Conv, MaxPool, AveragePool, GlobalAveragePool,
//! GlobalMaxPool.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Conv.html> and the pooling pages.
//! `auto_pad` (NOTSET, VALID, SAME_UPPER, SAME_LOWER) is resolved here to explicit pads
//! with [`resolve_auto_pad`], so the IR always carries explicit pads. Conv's
//! `kernel_shape` defaults to the weight's spatial dims. Pooling: `ceil_mode` exists
//! from opset 10, MaxPool `dilations` from 10 and AveragePool `dilations` from 19, and
//! AveragePool `count_include_pad` from 7; absent, they default to off / 1.
//! MaxPool's `storage_order` only affects the Indices output, which is not supported
//! (the model is refused if it uses it).

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::conv::{resolve_auto_pad, AutoPad};
use neoc_ir::ops::{Conv, GlobalPool, Pool, PoolKind};
use neoc_ir::{IrError, Op};

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "Conv",
        7,
        22,
        conv,
        "1-D/2-D/3-D; auto_pad resolved to pads",
    ),
    spec(
        "MaxPool",
        7,
        22,
        max_pool,
        "Indices output unsupported; storage_order ignored",
    ),
    spec("AveragePool", 7, 22, average_pool, "count_include_pad"),
    spec("GlobalAveragePool", 7, 22, global_average_pool, ""),
    spec("GlobalMaxPool", 7, 22, global_max_pool, ""),
];

/// Largest kernel, stride, dilation or pad accepted (keeps the IR's window arithmetic
/// far from overflow for any attribute value).
const MAX_WINDOW: u64 = 1 << 31;

/// Window attributes shared by Conv and pooling, resolved for an input of `rank`.
struct Window {
    kernel: Vec<u64>,
    strides: Vec<u64>,
    pads: Vec<u64>,
    dilations: Vec<u64>,
}

/// Reads `strides`, `dilations`, `pads` and `auto_pad` around a known `kernel`.
fn window(c: &NodeCtx<'_>, input: &[u64], kernel: Vec<u64>) -> Result<Window, IrError> {
    let k = kernel.len();
    if input.len() != k + 2 {
        return Err(c.shape_error(format!(
            "input rank {} does not match a {k}-d kernel {kernel:?} (expected N, C and {k} spatial dims)",
            input.len()
        )));
    }
    let list = |name: &str, len: usize, default: u64| -> Result<Vec<u64>, IrError> {
        match c.attrs.uints(name)? {
            None => Ok(vec![default; len]),
            Some(v) if v.len() == len => Ok(v),
            Some(v) => Err(c.attr_error(format!(
                "attribute \"{name}\" has {} entries, expected {len}: {v:?}",
                v.len()
            ))),
        }
    };
    let strides = list("strides", k, 1)?;
    let dilations = list("dilations", k, 1)?;
    let explicit = list("pads", 2 * k, 0)?;
    let mode = match c.attrs.string("auto_pad", "NOTSET")?.as_str() {
        "NOTSET" | "" => AutoPad::NotSet,
        "VALID" => AutoPad::Valid,
        "SAME_UPPER" => AutoPad::SameUpper,
        "SAME_LOWER" => AutoPad::SameLower,
        other => {
            return Err(c.attr_error(format!(
                "auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, got \"{other}\""
            )))
        }
    };
    if mode != AutoPad::NotSet && c.attrs.has("pads") && explicit.iter().any(|&p| p != 0) {
        return Err(c.attr_error("pads and auto_pad cannot both be set"));
    }
    let all = kernel
        .iter()
        .chain(&strides)
        .chain(&dilations)
        .chain(&explicit);
    if all.copied().any(|v| v > MAX_WINDOW) {
        return Err(c.attr_error(format!(
            "kernel {kernel:?}, strides {strides:?}, dilations {dilations:?} or pads \
             {explicit:?} exceed {MAX_WINDOW}"
        )));
    }
    if kernel.contains(&0) || strides.contains(&0) || dilations.contains(&0) {
        return Err(c.attr_error(format!(
            "kernel {kernel:?}, strides {strides:?} and dilations {dilations:?} must be positive"
        )));
    }
    let pads = resolve_auto_pad(mode, &input[2..], &kernel, &strides, &dilations, &explicit);
    Ok(Window {
        kernel,
        strides,
        pads,
        dilations,
    })
}

fn conv(c: &mut NodeCtx<'_>) -> Built {
    let (x, w, b) = (c.req(0)?, c.req(1)?, c.input(2));
    let (xd, wd) = (c.dims(x)?, c.dims(w)?);
    if wd.len() < 3 {
        return Err(c.shape_error(format!(
            "weight must have rank >= 3 (M, C/group, kernel...), got {wd:?}"
        )));
    }
    let kernel = c
        .attrs
        .uints("kernel_shape")?
        .unwrap_or_else(|| wd[2..].to_vec());
    let group = c.attrs.int("group", 1)?;
    let group = u64::try_from(group)
        .ok()
        .filter(|&g| g > 0)
        .ok_or_else(|| c.attr_error(format!("group must be positive, got {group}")))?;
    let win = window(c, &xd, kernel)?;
    let op = Op::Conv(Conv {
        kernel: win.kernel,
        strides: win.strides,
        pads: win.pads,
        dilations: win.dilations,
        group,
    });
    c.emit1(op, vec![Some(x), Some(w), b])
}

fn pool(c: &mut NodeCtx<'_>, kind: PoolKind) -> Built {
    let x = c.req(0)?;
    let xd = c.dims(x)?;
    let kernel = c
        .attrs
        .uints("kernel_shape")?
        .ok_or_else(|| c.attr_error("attribute \"kernel_shape\" is required"))?;
    let win = window(c, &xd, kernel)?;
    let ceil_mode = c.attrs.flag("ceil_mode", false)?;
    let op = Op::Pool(Pool {
        kind,
        kernel: win.kernel,
        strides: win.strides,
        pads: win.pads,
        dilations: win.dilations,
        ceil_mode,
    });
    // Output 1 (MaxPool's Indices) is not produced; the importer refuses its use.
    c.emit1(op, vec![Some(x)])
}

fn max_pool(c: &mut NodeCtx<'_>) -> Built {
    pool(c, PoolKind::Max)
}

fn average_pool(c: &mut NodeCtx<'_>) -> Built {
    let count_include_pad = c.attrs.flag("count_include_pad", false)?;
    pool(c, PoolKind::Avg { count_include_pad })
}

fn global_average_pool(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let kind = PoolKind::Avg {
        count_include_pad: false,
    };
    c.emit1(Op::GlobalPool(GlobalPool { kind }), vec![Some(x)])
}

fn global_max_pool(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let kind = PoolKind::Max;
    c.emit1(Op::GlobalPool(GlobalPool { kind }), vec![Some(x)])
}
