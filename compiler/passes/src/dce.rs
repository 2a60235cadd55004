//! Dead-code elimination: removes nodes none of whose outputs is used.
//!
//! Sound because IR ops have no side effects; repeated until nothing changes so that
//! chains of dead nodes disappear.

use crate::Result;
use neoc_ir::Graph;

pub fn run(graph: &mut Graph) -> Result<bool> {
    let mut changed = false;
    loop {
        let dead: Vec<_> = graph
            .topo_order()
            .into_iter()
            .filter(|&n| !graph.node(n).outputs.iter().any(|&v| graph.is_used(v)))
            .collect();
        if dead.is_empty() {
            return Ok(changed);
        }
        for n in dead {
            graph.remove_node(n);
        }
        changed = true;
    }
}
