//! Typed access to a node's attributes: the only place attribute names are looked up.
//!
//! Each getter checks the attribute's declared type (or, for old models that leave
//! `type` unset, which field is populated) and reports errors that name the attribute.
//! Builders state the ONNX default at the call site, next to the spec they implement.

use crate::proto::{AttributeProto, AttributeType, GraphProto, TensorProto};
use neoc_ir::IrError;

/// The attributes of one node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attrs<'a> {
    list: &'a [AttributeProto],
    node: &'a str,
    op: &'a str,
}

impl<'a> Attrs<'a> {
    pub(crate) fn new(list: &'a [AttributeProto], node: &'a str, op: &'a str) -> Attrs<'a> {
        Attrs { list, node, op }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.list.iter().find(|a| a.name == name)
    }

    /// True when the node sets attribute `name`.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// An attribute error naming this node and op.
    pub(crate) fn error(&self, message: impl Into<String>) -> IrError {
        IrError::Attribute {
            node: self.node.to_string(),
            op: self.op.to_string(),
            message: message.into(),
        }
    }

    /// The attribute `name` if present, checked to be of type `want`.
    fn typed(
        &self,
        name: &str,
        want: AttributeType,
    ) -> Result<Option<&'a AttributeProto>, IrError> {
        let Some(a) = self.get(name) else {
            return Ok(None);
        };
        if !a.ref_attr_name.is_empty() {
            return Err(self.error(format!(
                "attribute \"{name}\" refers to a function attribute, which is not supported"
            )));
        }
        let ty = AttributeType::try_from(a.r#type).unwrap_or(AttributeType::Undefined);
        if ty == want || ty == AttributeType::Undefined && populated(a) == Some(want) {
            return Ok(Some(a));
        }
        Err(self.error(format!(
            "attribute \"{name}\" must be {}, found {}",
            type_name(want),
            type_name(if ty == AttributeType::Undefined {
                populated(a).unwrap_or(AttributeType::Undefined)
            } else {
                ty
            })
        )))
    }

    /// An `int` attribute, or `default` when absent.
    pub(crate) fn int(&self, name: &str, default: i64) -> Result<i64, IrError> {
        Ok(self.opt_int(name)?.unwrap_or(default))
    }

    pub(crate) fn opt_int(&self, name: &str) -> Result<Option<i64>, IrError> {
        Ok(self.typed(name, AttributeType::Int)?.map(|a| a.i))
    }

    /// A 0/1 `int` attribute as a flag.
    pub(crate) fn flag(&self, name: &str, default: bool) -> Result<bool, IrError> {
        match self.opt_int(name)? {
            None => Ok(default),
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            Some(v) => Err(self.error(format!("attribute \"{name}\" must be 0 or 1, got {v}"))),
        }
    }

    /// A `float` attribute, or `default` when absent.
    pub(crate) fn float(&self, name: &str, default: f32) -> Result<f32, IrError> {
        Ok(self.opt_float(name)?.unwrap_or(default))
    }

    pub(crate) fn opt_float(&self, name: &str) -> Result<Option<f32>, IrError> {
        Ok(self.typed(name, AttributeType::Float)?.map(|a| a.f))
    }

    /// An `ints` attribute, `None` when absent.
    pub(crate) fn ints(&self, name: &str) -> Result<Option<&'a [i64]>, IrError> {
        Ok(self
            .typed(name, AttributeType::Ints)?
            .map(|a| a.ints.as_slice()))
    }

    /// An `ints` attribute whose entries must all be non-negative.
    pub(crate) fn uints(&self, name: &str) -> Result<Option<Vec<u64>>, IrError> {
        let Some(v) = self.ints(name)? else {
            return Ok(None);
        };
        v.iter()
            .map(|&x| {
                u64::try_from(x).map_err(|_| {
                    self.error(format!(
                        "attribute \"{name}\" must not be negative, got {v:?}"
                    ))
                })
            })
            .collect::<Result<Vec<u64>, IrError>>()
            .map(Some)
    }

    /// A `floats` attribute, `None` when absent.
    pub(crate) fn floats(&self, name: &str) -> Result<Option<&'a [f32]>, IrError> {
        Ok(self
            .typed(name, AttributeType::Floats)?
            .map(|a| a.floats.as_slice()))
    }

    /// A `string` attribute (UTF-8), or `default` when absent.
    pub(crate) fn string(&self, name: &str, default: &str) -> Result<String, IrError> {
        match self.typed(name, AttributeType::String)? {
            None => Ok(default.to_string()),
            Some(a) => String::from_utf8(a.s.clone())
                .map_err(|_| self.error(format!("attribute \"{name}\" is not valid UTF-8"))),
        }
    }

    /// A `strings` attribute (each UTF-8), `None` when absent.
    pub(crate) fn strings(&self, name: &str) -> Result<Option<Vec<String>>, IrError> {
        let Some(a) = self.typed(name, AttributeType::Strings)? else {
            return Ok(None);
        };
        a.strings
            .iter()
            .map(|s| {
                String::from_utf8(s.clone())
                    .map_err(|_| self.error(format!("attribute \"{name}\" is not valid UTF-8")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A `tensor` attribute, `None` when absent.
    pub(crate) fn tensor(&self, name: &str) -> Result<Option<&'a TensorProto>, IrError> {
        match self.typed(name, AttributeType::Tensor)? {
            None => Ok(None),
            Some(a) => {
                a.t.as_ref()
                    .map(Some)
                    .ok_or_else(|| self.error(format!("attribute \"{name}\" has no tensor value")))
            }
        }
    }

    /// A `graph` attribute (If's branches, Loop's and Scan's body), `None` when absent.
    pub(crate) fn graph(&self, name: &str) -> Result<Option<&'a GraphProto>, IrError> {
        match self.typed(name, AttributeType::Graph)? {
            None => Ok(None),
            Some(a) => {
                a.g.as_ref()
                    .map(Some)
                    .ok_or_else(|| self.error(format!("attribute \"{name}\" has no graph value")))
            }
        }
    }

    /// The name of the first attribute among `names` that is set.
    pub(crate) fn first_set(&self, names: &[&'static str]) -> Option<&'static str> {
        names.iter().copied().find(|n| self.has(n))
    }
}

/// For an attribute without a declared type: the type its populated field implies.
fn populated(a: &AttributeProto) -> Option<AttributeType> {
    if a.t.is_some() {
        Some(AttributeType::Tensor)
    } else if a.g.is_some() {
        Some(AttributeType::Graph)
    } else if !a.floats.is_empty() {
        Some(AttributeType::Floats)
    } else if !a.ints.is_empty() {
        Some(AttributeType::Ints)
    } else if !a.strings.is_empty() {
        Some(AttributeType::Strings)
    } else if !a.tensors.is_empty() {
        Some(AttributeType::Tensors)
    } else if !a.graphs.is_empty() {
        Some(AttributeType::Graphs)
    } else if !a.s.is_empty() {
        Some(AttributeType::String)
    } else if a.f != 0.0 {
        Some(AttributeType::Float)
    } else {
        // An int (possibly 0) is the most common untyped attribute.
        Some(AttributeType::Int)
    }
}

fn type_name(t: AttributeType) -> &'static str {
    match t {
        AttributeType::Undefined => "undefined",
        AttributeType::Float => "a float",
        AttributeType::Int => "an int",
        AttributeType::String => "a string",
        AttributeType::Tensor => "a tensor",
        AttributeType::Graph => "a graph",
        AttributeType::Floats => "a list of floats",
        AttributeType::Ints => "a list of ints",
        AttributeType::Strings => "a list of strings",
        AttributeType::Tensors => "a list of tensors",
        AttributeType::Graphs => "a list of graphs",
        AttributeType::SparseTensor => "a sparse tensor",
        AttributeType::SparseTensors => "a list of sparse tensors",
        AttributeType::TypeProto => "a type",
        AttributeType::TypeProtos => "a list of types",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(name: &str, ty: AttributeType) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: ty as i32,
            ..AttributeProto::default()
        }
    }

    #[test]
    fn getters_check_types_and_apply_defaults() {
        let mut a = attr("axis", AttributeType::Int);
        a.i = -2;
        let mut p = attr("perm", AttributeType::Ints);
        p.ints = vec![1, 0];
        let mut alpha = attr("alpha", AttributeType::Float);
        alpha.f = 0.5;
        let list = [a, p, alpha];
        let at = Attrs::new(&list, "n", "Op");
        assert_eq!(at.int("axis", 1).unwrap(), -2);
        assert_eq!(at.int("missing", 7).unwrap(), 7);
        assert_eq!(at.ints("perm").unwrap(), Some(&[1i64, 0][..]));
        assert_eq!(at.float("alpha", 0.0).unwrap(), 0.5);
        let e = at.float("axis", 0.0).unwrap_err().to_string();
        assert!(
            e.contains("\"axis\"") && e.contains("float") && e.contains("`n`"),
            "{e}"
        );
    }

    #[test]
    fn untyped_attributes_are_recognised_by_their_field() {
        let mut a = attr("axes", AttributeType::Undefined);
        a.ints = vec![0];
        let list = [a];
        let at = Attrs::new(&list, "n", "Op");
        assert_eq!(at.ints("axes").unwrap(), Some(&[0i64][..]));
    }
}
