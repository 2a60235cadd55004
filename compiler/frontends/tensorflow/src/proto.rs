//! The TensorFlow protobuf messages this frontend reads, declared as `prost` messages.
//!
//! Field numbers are those of `tensorflow/core/framework/*.proto` and
//! `tensorflow/core/protobuf/*.proto` (stable since TF 1.x). Only the fields the importer
//! uses are declared; protobuf skips the others while decoding. A declared field must
//! carry its published number and wire type: a wrong one would misread every model.
//! Enum fields (`DataType`) are read as plain `int32` so that values this crate does
//! not know decode and are refused by name later, not dropped by the decoder.
//!
//! `TensorProto::tensor_content` is [`bytes::Bytes`]: decoding from a `Bytes` buffer
//! makes it a slice of the model file's buffer, so the weights of a frozen graph are
//! never copied. Public so that tests can write models; protobuf types never appear in
//! the import API.

use std::collections::BTreeMap;

/// `GraphDef`: a graph of nodes, plus the functions they may call.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphDef {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeDef>,
    #[prost(message, optional, tag = "2")]
    pub library: Option<FunctionDefLibrary>,
    #[prost(message, optional, tag = "4")]
    pub versions: Option<VersionDef>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionDef {
    #[prost(int32, tag = "1")]
    pub producer: i32,
    #[prost(int32, tag = "2")]
    pub min_consumer: i32,
}

/// One operation. Inputs are `"node"`, `"node:i"` (graph) or `"node:arg:i"`
/// (function body), or `"^node"` for a control dependency.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeDef {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub op: String,
    #[prost(string, repeated, tag = "3")]
    pub input: Vec<String>,
    #[prost(string, tag = "4")]
    pub device: String,
    #[prost(btree_map = "string, message", tag = "5")]
    pub attr: BTreeMap<String, AttrValue>,
}

/// An attribute value: exactly one field is meaningful, which one depends on the
/// attribute (the op's definition says; this frontend knows it per op).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttrValue {
    #[prost(message, optional, tag = "1")]
    pub list: Option<ListValue>,
    #[prost(bytes = "vec", tag = "2")]
    pub s: Vec<u8>,
    #[prost(int64, tag = "3")]
    pub i: i64,
    #[prost(float, tag = "4")]
    pub f: f32,
    #[prost(bool, tag = "5")]
    pub b: bool,
    /// A `DataType`.
    #[prost(int32, tag = "6")]
    pub r#type: i32,
    #[prost(message, optional, tag = "7")]
    pub shape: Option<TensorShapeProto>,
    #[prost(message, optional, tag = "8")]
    pub tensor: Option<TensorProto>,
    #[prost(string, tag = "9")]
    pub placeholder: String,
    #[prost(message, optional, tag = "10")]
    pub func: Option<NameAttrList>,
}

/// `AttrValue.ListValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListValue {
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub s: Vec<Vec<u8>>,
    #[prost(int64, repeated, tag = "3")]
    pub i: Vec<i64>,
    #[prost(float, repeated, tag = "4")]
    pub f: Vec<f32>,
    #[prost(bool, repeated, tag = "5")]
    pub b: Vec<bool>,
    #[prost(int32, repeated, tag = "6")]
    pub r#type: Vec<i32>,
    #[prost(message, repeated, tag = "7")]
    pub shape: Vec<TensorShapeProto>,
}

/// A function reference with attributes (the `f` of `StatefulPartitionedCall`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct NameAttrList {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// A tensor value: a `Const`'s value, or a variable's dtype and shape.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// A `DataType`.
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    /// Little-endian element bytes; a slice of the model buffer after decoding.
    #[prost(bytes = "bytes", tag = "4")]
    pub tensor_content: bytes::Bytes,
    #[prost(float, repeated, tag = "5")]
    pub float_val: Vec<f32>,
    #[prost(double, repeated, tag = "6")]
    pub double_val: Vec<f64>,
    /// int32, int16, int8, uint8 (and uint16).
    #[prost(int32, repeated, tag = "7")]
    pub int_val: Vec<i32>,
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub string_val: Vec<Vec<u8>>,
    #[prost(int64, repeated, tag = "10")]
    pub int64_val: Vec<i64>,
    #[prost(bool, repeated, tag = "11")]
    pub bool_val: Vec<bool>,
    /// float16 and bfloat16 as bit patterns.
    #[prost(int32, repeated, tag = "13")]
    pub half_val: Vec<i32>,
    #[prost(uint32, repeated, tag = "16")]
    pub uint32_val: Vec<u32>,
    #[prost(uint64, repeated, tag = "17")]
    pub uint64_val: Vec<u64>,
}

/// A shape; a dim of size -1 is unknown, and `unknown_rank` means nothing is known.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
    #[prost(bool, tag = "3")]
    pub unknown_rank: bool,
}

/// `TensorShapeProto.Dim`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dim {
    #[prost(int64, tag = "1")]
    pub size: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FunctionDefLibrary {
    #[prost(message, repeated, tag = "1")]
    pub function: Vec<FunctionDef>,
}

/// A function: a signature, a body of nodes, and which body tensors it returns.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FunctionDef {
    #[prost(message, optional, tag = "1")]
    pub signature: Option<OpDef>,
    #[prost(message, repeated, tag = "3")]
    pub node_def: Vec<NodeDef>,
    /// Output arg name → body tensor (`"node:arg:i"` or an input arg name).
    #[prost(btree_map = "string, string", tag = "4")]
    pub ret: BTreeMap<String, String>,
}

/// The signature part of a function.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OpDef {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, repeated, tag = "2")]
    pub input_arg: Vec<ArgDef>,
    #[prost(message, repeated, tag = "3")]
    pub output_arg: Vec<ArgDef>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ArgDef {
    #[prost(string, tag = "1")]
    pub name: String,
    /// A `DataType` (`DT_RESOURCE` for a captured variable).
    #[prost(int32, tag = "3")]
    pub r#type: i32,
    #[prost(string, tag = "4")]
    pub type_attr: String,
    #[prost(string, tag = "5")]
    pub number_attr: String,
    #[prost(string, tag = "6")]
    pub type_list_attr: String,
}

/// `saved_model.pb`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedModel {
    #[prost(int64, tag = "1")]
    pub saved_model_schema_version: i64,
    #[prost(message, repeated, tag = "2")]
    pub meta_graphs: Vec<MetaGraphDef>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetaGraphDef {
    #[prost(message, optional, tag = "1")]
    pub meta_info_def: Option<MetaInfoDef>,
    #[prost(message, optional, tag = "2")]
    pub graph_def: Option<GraphDef>,
    #[prost(btree_map = "string, message", tag = "5")]
    pub signature_def: BTreeMap<String, SignatureDef>,
    #[prost(message, optional, tag = "7")]
    pub object_graph_def: Option<SavedObjectGraph>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetaInfoDef {
    #[prost(string, repeated, tag = "4")]
    pub tags: Vec<String>,
    #[prost(string, tag = "5")]
    pub tensorflow_version: String,
}

/// A named entry point: inputs and outputs by key, each a graph tensor.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SignatureDef {
    #[prost(btree_map = "string, message", tag = "1")]
    pub inputs: BTreeMap<String, TensorInfo>,
    #[prost(btree_map = "string, message", tag = "2")]
    pub outputs: BTreeMap<String, TensorInfo>,
    #[prost(string, tag = "3")]
    pub method_name: String,
}

/// A signature's tensor: its graph name (`"node:i"`), dtype and shape. Sparse and
/// composite encodings (fields 4, 5) are detected to be refused.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorInfo {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(int32, tag = "2")]
    pub dtype: i32,
    #[prost(message, optional, tag = "3")]
    pub tensor_shape: Option<TensorShapeProto>,
    #[prost(bytes = "vec", tag = "4")]
    pub coo_sparse: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub composite_tensor: Vec<u8>,
}

/// The TF2 object graph: the saved objects (variables, functions, ...) by node id.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedObjectGraph {
    #[prost(message, repeated, tag = "1")]
    pub nodes: Vec<SavedObject>,
    #[prost(btree_map = "string, message", tag = "2")]
    pub concrete_functions: BTreeMap<String, SavedConcreteFunction>,
}

/// One saved object. Its kind is a oneof in the schema; the kinds this frontend reads
/// are declared as separate optional fields, which is the same wire format.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedObject {
    #[prost(message, optional, tag = "7")]
    pub variable: Option<SavedVariable>,
    #[prost(message, optional, tag = "9")]
    pub constant: Option<SavedConstant>,
}

/// A function's captures: the object node ids its trailing inputs are bound to.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedConcreteFunction {
    #[prost(int32, repeated, tag = "2")]
    pub bound_inputs: Vec<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedVariable {
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
    #[prost(string, tag = "6")]
    pub name: String,
}

/// A captured constant: the name of a `Const` node of the meta graph.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedConstant {
    #[prost(string, tag = "1")]
    pub operation: String,
}

/// The checkpoint's object graph (the `_CHECKPOINTABLE_OBJECT_GRAPH` entry of the
/// variables bundle): node ids match the SavedObjectGraph's.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TrackableObjectGraph {
    #[prost(message, repeated, tag = "1")]
    pub nodes: Vec<TrackableObject>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TrackableObject {
    #[prost(message, repeated, tag = "2")]
    pub attributes: Vec<SerializedTensor>,
}

/// A saved tensor of an object: `name` is `VARIABLE_VALUE` for a variable's value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SerializedTensor {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub full_name: String,
    #[prost(string, tag = "3")]
    pub checkpoint_key: String,
}

/// The value of the bundle's empty key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BundleHeaderProto {
    #[prost(int32, tag = "1")]
    pub num_shards: i32,
    /// 0 little-endian, 1 big-endian.
    #[prost(int32, tag = "2")]
    pub endianness: i32,
}

/// Where one tensor of a bundle lies in the data files.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BundleEntryProto {
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
    #[prost(int32, tag = "3")]
    pub shard_id: i32,
    #[prost(int64, tag = "4")]
    pub offset: i64,
    #[prost(int64, tag = "5")]
    pub size: i64,
    #[prost(fixed32, tag = "6")]
    pub crc32c: u32,
    /// Partitioned variables' slices (field 7); present only to refuse them.
    #[prost(bytes = "vec", repeated, tag = "7")]
    pub slices: Vec<Vec<u8>>,
}

/// `DataType` values.
pub mod dt {
    pub const FLOAT: i32 = 1;
    pub const DOUBLE: i32 = 2;
    pub const INT32: i32 = 3;
    pub const UINT8: i32 = 4;
    pub const INT16: i32 = 5;
    pub const INT8: i32 = 6;
    pub const STRING: i32 = 7;
    pub const INT64: i32 = 9;
    pub const BOOL: i32 = 10;
    pub const BFLOAT16: i32 = 14;
    pub const UINT16: i32 = 17;
    pub const HALF: i32 = 19;
    pub const RESOURCE: i32 = 20;
    pub const UINT32: i32 = 22;
    pub const UINT64: i32 = 23;
    /// `_REF` types (TF1 reference variables) add this to the base type.
    pub const REF_OFFSET: i32 = 100;
}
