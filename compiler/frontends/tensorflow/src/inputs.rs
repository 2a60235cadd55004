//! Graph inputs: their dtype and static shape, from the model's declaration and the
//! `--input-shape` overrides.

use crate::error::{Result, TfError};
use neoc_ir::TensorType;

/// The type of input `name`: dtype from the model (`DataType`), shape from the override
/// when given (its rank must match a known `declared` rank, and its dims the known
/// dims), else `declared`, which must be fully static.
pub(crate) fn input_type(
    file: &str,
    name: &str,
    dtype: i32,
    declared: Option<&[Option<u64>]>,
    overrides: &[(String, Vec<u64>)],
) -> Result<TensorType> {
    let err = |message: String| TfError::InputShape {
        file: file.to_string(),
        input: name.to_string(),
        message,
    };
    let dt = crate::tensor::ir_dtype(dtype).ok_or_else(|| {
        err(format!(
            "input \"{name}\" has type {}, which neoc does not support as an input",
            crate::tensor::dtype_name(dtype)
        ))
    })?;
    let hint = |d: Option<&[Option<u64>]>| {
        let dims: Vec<String> = match d {
            Some(d) => d
                .iter()
                .map(|x| x.map_or("N".to_string(), |n| n.to_string()))
                .collect(),
            None => vec!["1".into(), "224".into(), "224".into(), "3".into()],
        };
        format!("pass --input-shape {name}={}", dims.join(","))
    };
    if let Some((_, dims)) = overrides.iter().find(|(n, _)| n == name) {
        if let Some(d) = declared {
            if d.len() != dims.len() {
                return Err(err(format!(
                    "--input-shape {name} has rank {}, the model's input has rank {}",
                    dims.len(),
                    d.len()
                )));
            }
            for (i, (o, m)) in dims.iter().zip(d).enumerate() {
                if let Some(m) = m.filter(|m| m != o) {
                    return Err(err(format!(
                        "--input-shape {name} sets dim {i} to {o}, but the model fixes it to {m}"
                    )));
                }
            }
        }
        if neoc_ir::shape::checked_elements(dims).is_none() {
            return Err(err(format!("--input-shape {name} is too large")));
        }
        return Ok(TensorType::new(dt, dims));
    }
    match declared {
        Some(d) => match d.iter().copied().collect::<Option<Vec<u64>>>() {
            Some(v) if neoc_ir::shape::checked_elements(&v).is_some() => {
                Ok(TensorType::new(dt, &v))
            }
            Some(_) => Err(err(format!("input \"{name}\" is too large"))),
            None => Err(err(format!(
                "input \"{name}\" has unknown dimensions; {}",
                hint(Some(d))
            ))),
        },
        None => Err(err(format!(
            "input \"{name}\" has an unknown shape; {}",
            hint(None)
        ))),
    }
}

/// Checks that every `--input-shape` names an input of the model.
pub(crate) fn check_overrides(
    file: &str,
    inputs: &[String],
    overrides: &[(String, Vec<u64>)],
) -> Result<()> {
    for (name, _) in overrides {
        if !inputs.contains(name) {
            return Err(TfError::InputShape {
                file: file.to_string(),
                input: name.clone(),
                message: format!(
                    "--input-shape names \"{name}\", which is not an input of the model (its \
                     inputs: {})",
                    inputs.join(", ")
                ),
            });
        }
    }
    Ok(())
}
