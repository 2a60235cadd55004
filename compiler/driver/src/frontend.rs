//! Choosing the frontend for a model file.

use crate::error::DriverError;
use neoc_ir::Graph;
use std::path::Path;

/// The source frameworks neoc can import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    Onnx,
}

/// Detects the framework from the extension, falling back to the file's first bytes.
pub fn detect(path: &Path) -> Result<Framework, DriverError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("onnx") => Ok(Framework::Onnx),
        _ => {
            // An ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
            let head = std::fs::read(path).ok().and_then(|b| b.first().copied());
            match head {
                Some(0x08) => Ok(Framework::Onnx),
                _ if !path.exists() => Ok(Framework::Onnx), // let the frontend report "not found"
                _ => Err(DriverError::UnknownFormat {
                    file: path.to_path_buf(),
                }),
            }
        }
    }
}

/// Imports a model file into the graph IR.
pub fn import(
    path: &Path,
    input_shapes: &[(String, Vec<u64>)],
    constant_inputs: &[(String, neoc_ir::Tensor)],
) -> Result<Graph, DriverError> {
    match detect(path)? {
        Framework::Onnx => {
            let opts = neoc_onnx::ImportOptions {
                input_shapes: input_shapes.to_vec(),
                constant_inputs: constant_inputs.to_vec(),
            };
            Ok(neoc_onnx::import_file(path, &opts)?)
        }
    }
}
