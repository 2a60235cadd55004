//! Graph IR: the framework-agnostic form every frontend imports into.
//!
//! ```text
//! ONNX / TF / PyTorch / MXNet ──frontend──▶ Graph (this crate) ──passes──▶ Graph ──lower──▶ kernel IR
//! ```
//!
//! A [`Graph`] is a DAG (petgraph) of [`Node`]s over typed tensor [`Value`]s. Every value
//! has a [`DType`] and a [`Shape`]; operators are a typed enum ([`Op`]) whose attributes
//! are structs, never string maps. Shape inference runs as each node is added, so a graph
//! is always fully typed, and an inconsistent model fails at the node that breaks it.
//! Nodes whose inputs are all constants are evaluated on the spot ([`Op::eval`]), which
//! is how the `Shape → Gather → Concat → Reshape` chains of exporters disappear on import.

pub mod dot;
pub mod dtype;
pub mod error;
pub mod graph;
pub mod interp;
pub mod minifloat;
pub mod ops;
pub mod parse;
pub mod print;
pub mod reference;
pub mod shape;
pub mod tensor;

pub use dtype::DType;
pub use error::{IrError, Result};
pub use graph::{Graph, Node, NodeId, Value, ValueDef, ValueId};
pub use ops::Op;
pub use parse::{parse_graph, ParseError};
pub use shape::{Dim, Shape, TensorType};
pub use tensor::Tensor;
