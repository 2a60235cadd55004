//! Support modules of the conformance test (`onnx_node.rs`).

pub(crate) mod refs;
pub(crate) mod report;
