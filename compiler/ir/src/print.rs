//! The text form of a graph, for `neoc inspect --ir` and pass tests.
//!
//! ```text
//! graph main(%0: f32[1,3,224,224] "input") -> (%9) {
//!   %1 = const f32[64,3,7,7] "conv1.weight" [0.01, ...]
//!   %5 = Conv{kernel=[7, 7] ...}(%0, %1, %2) : f32[1,64,112,112] "n0"
//! }
//! ```

use crate::graph::{Graph, ValueDef};
use std::fmt;

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "graph {}(", self.name)?;
        for (i, v) in self.inputs().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let val = self.value(*v);
            write!(f, "{v}: {} {:?}", val.ty, val.name)?;
        }
        f.write_str(") -> (")?;
        for (i, v) in self.outputs().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v}")?;
        }
        f.write_str(") {\n")?;
        let order = self.topo_order();
        let mut used_consts: Vec<_> = order
            .iter()
            .flat_map(|n| self.node(*n).inputs.iter().flatten().copied())
            .chain(self.outputs().iter().copied())
            .filter(|v| self.const_value(*v).is_some())
            .collect();
        used_consts.sort();
        used_consts.dedup();
        for v in used_consts {
            let val = self.value(v);
            if let ValueDef::Const(t) = &val.def {
                writeln!(
                    f,
                    "  {v} = const {} {:?} {}",
                    val.ty,
                    val.name,
                    t.preview(4)
                )?;
            }
        }
        for n in order {
            let node = self.node(n);
            let outs: Vec<String> = node.outputs.iter().map(|v| v.to_string()).collect();
            let ins: Vec<String> = node
                .inputs
                .iter()
                .map(|v| v.map_or("_".to_string(), |v| v.to_string()))
                .collect();
            let tys: Vec<String> = node
                .outputs
                .iter()
                .map(|v| self.value(*v).ty.to_string())
                .collect();
            writeln!(
                f,
                "  {} = {}({}) : {} {:?}",
                outs.join(", "),
                node.op,
                ins.join(", "),
                tys.join(", "),
                node.name
            )?;
        }
        f.write_str("}\n")
    }
}
