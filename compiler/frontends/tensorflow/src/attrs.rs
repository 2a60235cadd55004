//! Attribute access: the only place attribute names are read. Getters are typed, take
//! the default at the call site (TF strips attributes left at their default from saved
//! graphs), and their errors name the attribute.

use crate::ops::Ctx;
use crate::proto::{AttrValue, NodeDef};
use neoc_ir::{DType, IrError};

/// A named attribute of a node.
pub(crate) fn get<'n>(node: &'n NodeDef, name: &str) -> Option<&'n AttrValue> {
    node.attr.get(name)
}

/// A string attribute (`padding`, `data_format`, `equation`).
pub(crate) fn string(node: &NodeDef, name: &str) -> Option<String> {
    get(node, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

/// The name of the function a call node calls (`f`).
pub(crate) fn func(node: &NodeDef) -> Option<&str> {
    get(node, "f")
        .and_then(|a| a.func.as_ref())
        .map(|f| f.name.as_str())
}

impl Ctx<'_> {
    pub(crate) fn attr_i(&self, name: &str, default: i64) -> i64 {
        get(self.node, name).map_or(default, |a| a.i)
    }

    pub(crate) fn attr_f(&self, name: &str, default: f32) -> f32 {
        get(self.node, name).map_or(default, |a| a.f)
    }

    pub(crate) fn attr_b(&self, name: &str, default: bool) -> bool {
        get(self.node, name).map_or(default, |a| a.b)
    }

    pub(crate) fn attr_s(&self, name: &str, default: &str) -> String {
        string(self.node, name).unwrap_or_else(|| default.to_string())
    }

    /// A required list-of-ints attribute (`strides`, `ksize`).
    pub(crate) fn attr_ints(&self, name: &str) -> Result<Vec<i64>, IrError> {
        get(self.node, name)
            .and_then(|a| a.list.as_ref())
            .map(|l| l.i.clone())
            .ok_or_else(|| self.attr_err(format!("attribute `{name}` (a list of ints) is missing")))
    }

    /// A list-of-ints attribute, empty when absent.
    pub(crate) fn attr_ints_or_empty(&self, name: &str) -> Vec<i64> {
        get(self.node, name)
            .and_then(|a| a.list.as_ref())
            .map(|l| l.i.clone())
            .unwrap_or_default()
    }

    /// A dtype attribute (`DstT`, `out_type`), as an IR dtype.
    pub(crate) fn attr_dtype(&self, name: &str, default: DType) -> Result<DType, IrError> {
        match get(self.node, name) {
            None => Ok(default),
            Some(a) => crate::tensor::ir_dtype(a.r#type).ok_or_else(|| {
                self.attr_err(format!(
                    "attribute `{name}`: {} is not supported",
                    crate::tensor::dtype_name(a.r#type)
                ))
            }),
        }
    }

    /// `data_format`: true for channels-last (`NHWC`, the default), false for `NCHW`.
    pub(crate) fn channels_last(&self) -> Result<bool, IrError> {
        match self.attr_s("data_format", "NHWC").as_str() {
            "NHWC" => Ok(true),
            "NCHW" => Ok(false),
            f => Err(self.attr_err(format!("data_format `{f}` is not supported (NHWC or NCHW)"))),
        }
    }

    /// `padding`: `SAME`, `VALID` or `EXPLICIT`.
    pub(crate) fn padding(&self) -> String {
        self.attr_s("padding", "VALID")
    }

    /// `explicit_paddings` (8 values: begin/end per NHWC or NCHW dim).
    pub(crate) fn explicit_paddings(&self) -> Vec<i64> {
        self.attr_ints_or_empty("explicit_paddings")
    }

    /// `equation` of Einsum.
    pub(crate) fn equation(&self) -> Result<String, IrError> {
        string(self.node, "equation")
            .ok_or_else(|| self.attr_err("attribute `equation` is missing"))
    }
}
