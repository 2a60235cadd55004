//! Choosing the frontend for a model file.

use crate::error::DriverError;
use neoc_ir::Graph;
use std::path::{Path, PathBuf};

/// The source frameworks neoc can import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    Onnx,
    /// torch.export (`.pt2`) and TorchScript (`torch.jit.save`) archives.
    Pytorch,
    /// Frozen GraphDefs (`.pb`) and SavedModel directories.
    Tensorflow,
    /// Symbol JSON (`*-symbol.json`) with its `.params` (`HybridBlock.export`).
    Mxnet,
}

impl Framework {
    /// The framework of a `--framework` name (`onnx`, `pytorch`/`torch`,
    /// `tensorflow`/`tf`, `mxnet`).
    pub fn from_name(name: &str) -> Option<Framework> {
        match name.to_ascii_lowercase().as_str() {
            "onnx" => Some(Framework::Onnx),
            "pytorch" | "torch" => Some(Framework::Pytorch),
            "tensorflow" | "tf" => Some(Framework::Tensorflow),
            "mxnet" => Some(Framework::Mxnet),
            _ => None,
        }
    }
}

/// Detects the framework from the extension, falling back to the file's first bytes
/// (and, for a zip, its directory: the torch.export or TorchScript layout).
pub fn detect(path: &Path) -> Result<Framework, DriverError> {
    if neoc_tensorflow::detect(path).is_some() {
        return Ok(Framework::Tensorflow);
    }
    if neoc_mxnet::detect(path) {
        return Ok(Framework::Mxnet);
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("onnx") => Ok(Framework::Onnx),
        Some("pt2") => Ok(Framework::Pytorch),
        _ => {
            if neoc_pytorch::detect(path).is_some() {
                return Ok(Framework::Pytorch);
            }
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
    import_as(path, None, input_shapes, constant_inputs)
}

/// Imports a model file with the given framework's frontend (`None`: detected).
pub fn import_as(
    path: &Path,
    framework: Option<Framework>,
    input_shapes: &[(String, Vec<u64>)],
    constant_inputs: &[(String, neoc_ir::Tensor)],
) -> Result<Graph, DriverError> {
    import_with(
        path,
        framework,
        input_shapes,
        constant_inputs,
        &ModelSelection::default(),
    )
}

/// Which part of a model to import, for formats that hold several entry points or
/// keep weights in another file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelSelection {
    /// A TensorFlow SavedModel's signature (`--signature`; default `serving_default`).
    pub signature: Option<String>,
    /// A TensorFlow frozen graph's outputs (`--outputs a,b`; default: the nodes nothing
    /// reads).
    pub outputs: Vec<String>,
    /// An MXNet parameters file (`--params`; default: found beside the symbol file).
    pub params: Option<PathBuf>,
}

/// [`import_as`] with a [`ModelSelection`].
pub fn import_with(
    path: &Path,
    framework: Option<Framework>,
    input_shapes: &[(String, Vec<u64>)],
    constant_inputs: &[(String, neoc_ir::Tensor)],
    selection: &ModelSelection,
) -> Result<Graph, DriverError> {
    let framework = match framework {
        Some(f) => f,
        None => detect(path)?,
    };
    let only_for = |flag: &str, what: &str| {
        Err(DriverError::Usage(format!(
            "{flag} applies to {what} models only"
        )))
    };
    if framework != Framework::Tensorflow {
        if selection.signature.is_some() {
            return only_for("--signature", "TensorFlow SavedModel");
        }
        if !selection.outputs.is_empty() {
            return only_for("--outputs", "TensorFlow frozen-graph");
        }
    }
    if selection.params.is_some() && framework != Framework::Mxnet {
        return only_for("--params", "MXNet");
    }
    match framework {
        Framework::Onnx => {
            let opts = neoc_onnx::ImportOptions {
                input_shapes: input_shapes.to_vec(),
                constant_inputs: constant_inputs.to_vec(),
            };
            Ok(neoc_onnx::import_file(path, &opts)?)
        }
        Framework::Pytorch => {
            if let Some((name, _)) = constant_inputs.first() {
                return Err(DriverError::Usage(format!(
                    "--constant-input {name}: binding inputs to constants is not supported for \
                     PyTorch models"
                )));
            }
            let opts = neoc_pytorch::ImportOptions {
                input_shapes: input_shapes.to_vec(),
            };
            Ok(neoc_pytorch::import_file(path, &opts)?)
        }
        Framework::Tensorflow => {
            if let Some((name, _)) = constant_inputs.first() {
                return Err(DriverError::Usage(format!(
                    "--constant-input {name}: binding inputs to constants is not supported for \
                     TensorFlow models"
                )));
            }
            let opts = neoc_tensorflow::ImportOptions {
                input_shapes: input_shapes.to_vec(),
                signature: selection.signature.clone(),
                outputs: selection.outputs.clone(),
            };
            Ok(neoc_tensorflow::import_path(path, &opts)?)
        }
        Framework::Mxnet => {
            if let Some((name, _)) = constant_inputs.first() {
                return Err(DriverError::Usage(format!(
                    "--constant-input {name}: binding inputs to constants is not supported for \
                     MXNet models"
                )));
            }
            let opts = neoc_mxnet::ImportOptions {
                input_shapes: input_shapes.to_vec(),
                params: selection.params.clone(),
            };
            Ok(neoc_mxnet::import_file(path, &opts)?)
        }
    }
}
