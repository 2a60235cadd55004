//! Reading torch.export's serialized program: the JSON encoding of its schema
//! (`torch/_export/serde/schema.py`): unions as one-key objects (`{"as_int": 3}`),
//! tensor metadata, and Python's non-standard float literals.

use super::Slot;
use crate::error::{PytorchError, Result};
use crate::tensors;
use crate::value::Val;
use neoc_ir::DType;
use serde_json::Value as Json;
use std::collections::HashMap;

/// Rewrites Python's bare `Infinity`, `-Infinity` and `NaN` (which `json.dumps`
/// writes and strict JSON lacks) into strings, outside string literals.
pub(crate) fn python_literals(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut last, mut in_str) = (0, 0, false);
    while i < b.len() {
        let ch = b[i];
        if in_str {
            if ch == b'\\' {
                i += 2;
                continue;
            }
            if ch == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        if ch == b'"' {
            in_str = true;
            i += 1;
            continue;
        }
        let tok = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| b[i..].starts_with(t.as_bytes()));
        match tok {
            Some(tok) => {
                out.push_str(&text[last..i]);
                out.push('"');
                out.push_str(tok);
                out.push('"');
                i += tok.len();
                last = i;
            }
            None => i += 1,
        }
    }
    if last <= text.len() {
        out.push_str(&text[last.min(text.len())..]);
    }
    out
}

/// The array at `path` (`a/b` for nested keys).
pub(crate) fn array<'a>(v: &'a Json, path: &str) -> std::result::Result<&'a [Json], String> {
    let mut cur = v;
    for k in path.split('/') {
        cur = cur
            .get(k)
            .ok_or_else(|| format!("the program has no `{path}`"))?;
    }
    cur.as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| format!("`{path}` is not a list"))
}

/// A schema union: its one (non-null) field and value.
pub(crate) fn union(v: &Json) -> std::result::Result<(&str, &Json), String> {
    let o = v.as_object().ok_or("a union value is not an object")?;
    o.iter()
        .find(|(_, v)| !v.is_null() || o.len() == 1)
        .map(|(k, v)| (k.as_str(), v))
        .ok_or_else(|| "an empty union value".to_string())
}

/// The `name` of a `TensorArgument`.
pub(crate) fn name(v: &Json) -> std::result::Result<&str, String> {
    v.get("name")
        .and_then(Json::as_str)
        .ok_or_else(|| "a tensor argument without a name".to_string())
}

/// How messages name a node: its first output.
pub(crate) fn node_name(node: &Json) -> String {
    let first = node
        .get("outputs")
        .and_then(Json::as_array)
        .and_then(|o| o.first());
    let name = first.and_then(|o| {
        o.pointer("/as_tensor/name")
            .or_else(|| o.pointer("/as_tensors/0/name"))
            .and_then(Json::as_str)
    });
    name.unwrap_or("?").to_string()
}

/// `dtype` and `sizes` of a `TensorMeta` (`None` for a symbolic size).
pub(crate) fn tensor_meta(v: &Json) -> std::result::Result<(DType, Vec<Option<u64>>), String> {
    let code = v.get("dtype").and_then(Json::as_i64).ok_or("no dtype")?;
    let dtype = tensors::dtype_from_export(code).ok_or(format!("dtype {code} is not supported"))?;
    let sizes = v
        .get("sizes")
        .and_then(Json::as_array)
        .ok_or("no sizes")?
        .iter()
        .map(|s| s.get("as_int").and_then(Json::as_u64))
        .collect();
    Ok((dtype, sizes))
}

fn float(v: &Json) -> Option<f64> {
    match v {
        Json::String(s) => match s.as_str() {
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            _ => None,
        },
        other => other.as_f64(),
    }
}

/// Decodes an `Argument` union into a [`Val`], resolving tensor names.
pub(crate) fn decode(v: &Json, slots: &HashMap<String, Slot>, file: &str) -> Result<Val> {
    let perr = |message: String| PytorchError::Program {
        file: file.to_string(),
        message,
    };
    let (kind, body) = union(v).map_err(&perr)?;
    let tensor = |n: &str| -> Result<Val> {
        match slots.get(n) {
            Some(Slot::Val(v)) => Ok(v.clone()),
            Some(Slot::Missing { node, op }) => Err(perr(format!(
                "`{n}` is an output of node `{node}` ({op}) that neoc does not produce"
            ))),
            None => Err(perr(format!(
                "`{n}` is not defined by an earlier node or input"
            ))),
        }
    };
    let list = |f: &dyn Fn(&Json) -> Result<Val>| -> Result<Val> {
        let items = body
            .as_array()
            .ok_or_else(|| perr(format!("{kind} is not a list")))?;
        items
            .iter()
            .map(f)
            .collect::<Result<Vec<_>>>()
            .map(Val::List)
    };
    let int = |x: &Json| -> Result<Val> {
        x.as_i64()
            .map(Val::Int)
            .ok_or_else(|| perr(format!("{kind}: not an integer")))
    };
    let sym_int = |x: &Json| -> Result<Val> {
        match union(x).map_err(&perr)? {
            ("as_int", i) => int(i),
            ("as_name", n) => tensor(n.as_str().unwrap_or("")),
            (k, _) => Err(perr(format!("symbolic int `{k}` is not supported"))),
        }
    };
    match kind {
        "as_none" => Ok(Val::None),
        "as_tensor" => tensor(name(body).map_err(&perr)?),
        "as_tensors" => list(&|t| tensor(name(t).map_err(&perr)?)),
        "as_optional_tensors" => list(&|t| match union(t).map_err(&perr)? {
            ("as_tensor", t) => tensor(name(t).map_err(&perr)?),
            _ => Ok(Val::None),
        }),
        "as_int" => int(body),
        "as_ints" => list(&int),
        "as_float" => float(body)
            .map(Val::Float)
            .ok_or_else(|| perr("as_float: not a number".into())),
        "as_floats" => list(&|x| {
            float(x)
                .map(Val::Float)
                .ok_or_else(|| perr("as_floats: not a number".into()))
        }),
        "as_bool" => body
            .as_bool()
            .map(Val::Bool)
            .ok_or_else(|| perr("as_bool: not a bool".into())),
        "as_bools" => list(&|x| {
            x.as_bool()
                .map(Val::Bool)
                .ok_or_else(|| perr("as_bools: not a bool".into()))
        }),
        "as_string" => Ok(Val::Str(body.as_str().unwrap_or_default().to_string())),
        "as_strings" => list(&|x| Ok(Val::Str(x.as_str().unwrap_or_default().to_string()))),
        "as_scalar_type" => {
            let code = body.as_i64().unwrap_or(-1);
            let d = tensors::dtype_from_export(code)
                .and_then(tensors::c10_code)
                .ok_or_else(|| perr(format!("dtype {code} is not supported")))?;
            Ok(Val::Int(d))
        }
        "as_memory_format" | "as_layout" => Ok(Val::Int(body.as_i64().unwrap_or(0))),
        "as_device" => Ok(Val::Device(
            body.get("type")
                .and_then(Json::as_str)
                .unwrap_or("cpu")
                .to_string(),
        )),
        "as_sym_int" => sym_int(body),
        "as_sym_ints" => list(&sym_int),
        other => Err(perr(format!(
            "arguments of kind `{other}` are not supported"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn python_float_literals_become_strings() {
        let t = r#"{"a": Infinity, "b": -Infinity, "c": NaN, "d": "NaN Infinity", "e": [1, -Infinity]}"#;
        let v: Json = serde_json::from_str(&python_literals(t)).unwrap();
        assert_eq!(float(&v["a"]), Some(f64::INFINITY));
        assert_eq!(float(&v["b"]), Some(f64::NEG_INFINITY));
        assert!(float(&v["c"]).unwrap().is_nan());
        assert_eq!(v["d"], Json::String("NaN Infinity".into()));
        assert_eq!(float(&v["e"][1]), Some(f64::NEG_INFINITY));
    }

    #[test]
    fn unions_and_names() {
        let v: Json = serde_json::from_str(r#"{"as_tensor": {"name": "x"}}"#).unwrap();
        let (k, b) = union(&v).unwrap();
        assert_eq!(k, "as_tensor");
        assert_eq!(name(b).unwrap(), "x");
        assert_eq!(aten(), Some("conv2d"));
    }

    fn aten() -> Option<&'static str> {
        super::super::aten_name("torch.ops.aten.conv2d.default")
    }
}
