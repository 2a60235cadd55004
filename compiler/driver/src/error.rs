//! Errors of the compile pipeline. Each names the model file; most are bad input.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Bad input: the file is not a model format neoc reads.
    #[error("{file}: cannot tell the model format from the file name or contents; expected an ONNX model (.onnx), a PyTorch archive (.pt2, .pt) a TensorFlow model (frozen .pb, SavedModel directory) or an MXNet symbol (-symbol.json)")]
    UnknownFormat { file: PathBuf },
    /// Bad input: the ONNX frontend rejected the model.
    #[error(transparent)]
    Onnx(#[from] neoc_onnx::OnnxError),
    /// Bad input: the PyTorch frontend rejected the model.
    #[error(transparent)]
    Pytorch(#[from] neoc_pytorch::PytorchError),
    /// Bad input: the TensorFlow frontend rejected the model.
    #[error(transparent)]
    Tensorflow(#[from] neoc_tensorflow::TfError),
    /// Bad input: the MXNet frontend rejected the model.
    #[error(transparent)]
    Mxnet(#[from] neoc_mxnet::MxnetError),
    /// Bad input: `--target` names no known target.
    #[error(transparent)]
    Target(#[from] neoc_target_spec::UnknownTarget),
    /// Bad input: a graph transformation found the model inconsistent.
    #[error("{file}: {source}")]
    Graph {
        file: String,
        source: neoc_ir::IrError,
    },
    /// Bad input: an operator form code generation does not support yet.
    #[error("{file}: cannot compile {source}")]
    Lower {
        file: String,
        source: neoc_kernel::LowerError,
    },
    /// Environment or internal: LLVM or the linker failed.
    #[error(transparent)]
    Codegen(#[from] neoc_llvm::LlvmError),
    /// Bad input: an option names something that does not exist (e.g. a pass).
    #[error("{0}")]
    Usage(String),
    /// Internal bug.
    #[error("internal error: {0}")]
    Internal(String),
}
