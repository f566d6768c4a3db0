//! The node graph: dependency indices, a topological order, roots and leaves, and cycle finding.

use crate::model::NodeSpec;
use std::collections::HashMap;

/// A checked, acyclic node graph. Indices refer to the workflow's `nodes` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dag {
    /// For each node, the indices of its dependencies, in `depends_on` order.
    pub deps: Vec<Vec<usize>>,
    /// For each node, the indices of the nodes that depend on it.
    pub dependents: Vec<Vec<usize>>,
    /// A topological order: every node after its dependencies.
    pub order: Vec<usize>,
    /// Nodes nothing depends on; their outputs form the run's output.
    pub leaves: Vec<usize>,
}

/// Why nodes do not form a DAG.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DagError {
    /// A `depends_on` entry names no node.
    #[error("node `{node}` depends on unknown node `{dependency}`")]
    UnknownDependency {
        /// The node with the bad entry.
        node: String,
        /// The missing id.
        dependency: String,
    },
    /// The dependencies loop; the ids are the loop in order, first repeated at the end.
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

impl Dag {
    /// Builds the graph, failing on the first unknown dependency or cycle.
    pub fn build(nodes: &[NodeSpec]) -> Result<Self, DagError> {
        let index: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        let mut deps = vec![Vec::new(); nodes.len()];
        let mut dependents = vec![Vec::new(); nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            for dep in &node.depends_on {
                let Some(&j) = index.get(dep.as_str()) else {
                    return Err(DagError::UnknownDependency {
                        node: node.id.clone(),
                        dependency: dep.clone(),
                    });
                };
                if !deps[i].contains(&j) {
                    deps[i].push(j);
                    dependents[j].push(i);
                }
            }
        }
        if let Some(cycle) = find_cycle(&deps) {
            return Err(DagError::Cycle(
                cycle.into_iter().map(|i| nodes[i].id.clone()).collect(),
            ));
        }
        let order = topological_order(&deps, &dependents);
        let leaves = (0..nodes.len())
            .filter(|&i| dependents[i].is_empty())
            .collect();
        Ok(Self {
            deps,
            dependents,
            order,
            leaves,
        })
    }
}

fn topological_order(deps: &[Vec<usize>], dependents: &[Vec<usize>]) -> Vec<usize> {
    let mut remaining: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut ready: Vec<usize> = (0..deps.len())
        .filter(|&i| remaining[i] == 0)
        .rev()
        .collect();
    let mut order = Vec::with_capacity(deps.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &d in dependents[i].iter().rev() {
            remaining[d] -= 1;
            if remaining[d] == 0 {
                ready.push(d);
            }
        }
    }
    order
}

/// Returns one cycle as a path of indices whose last element repeats the first.
pub fn find_cycle(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let mut mark = vec![Mark::New; deps.len()];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for start in 0..deps.len() {
        if mark[start] != Mark::New {
            continue;
        }
        stack.push((start, 0));
        mark[start] = Mark::OnStack;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&dep) = deps[node].get(*next) {
                *next += 1;
                match mark[dep] {
                    Mark::New => {
                        mark[dep] = Mark::OnStack;
                        stack.push((dep, 0));
                    }
                    Mark::OnStack => {
                        let from = stack.iter().position(|&(n, _)| n == dep).expect("on stack");
                        let mut cycle: Vec<usize> = stack[from..].iter().map(|&(n, _)| n).collect();
                        // Stack edges point from a node to its dependency; report in data-flow order.
                        cycle.reverse();
                        let first = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
                        cycle.rotate_left(first);
                        cycle.push(cycle[0]);
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DEFAULT_NODE_TIMEOUT, DEFAULT_RETRY_DELAY, NodePositions};

    fn nodes(spec: &[(&str, &[&str])]) -> Vec<NodeSpec> {
        spec.iter()
            .map(|(id, deps)| NodeSpec {
                id: (*id).into(),
                file: format!("nodes/{id}.ts"),
                depends_on: deps.iter().map(|d| (*d).into()).collect(),
                timeout: DEFAULT_NODE_TIMEOUT,
                retries: 0,
                retry_delay: DEFAULT_RETRY_DELAY,
                pos: NodePositions::default(),
            })
            .collect()
    }

    #[test]
    fn diamond_orders_dependencies_first_and_has_one_leaf() {
        let dag = Dag::build(&nodes(&[
            ("a", &[]),
            ("b", &["a"]),
            ("c", &["a"]),
            ("d", &["b", "c"]),
        ]))
        .unwrap();
        assert_eq!(dag.order, vec![0, 1, 2, 3]);
        assert_eq!(dag.leaves, vec![3]);
        assert_eq!(dag.deps[3], vec![1, 2]);
    }

    #[test]
    fn independent_nodes_are_all_leaves() {
        let dag = Dag::build(&nodes(&[("a", &[]), ("b", &[])])).unwrap();
        assert_eq!(dag.leaves, vec![0, 1]);
    }

    #[test]
    fn cycles_are_named_in_order() {
        let err = Dag::build(&nodes(&[
            ("a", &["c"]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("d", &[]),
        ]))
        .unwrap_err();
        assert_eq!(err.to_string(), "dependency cycle: a -> b -> c -> a");
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        let err = Dag::build(&nodes(&[("a", &["a"])])).unwrap_err();
        assert_eq!(err, DagError::Cycle(vec!["a".into(), "a".into()]));
    }

    #[test]
    fn unknown_dependency_is_reported() {
        let err = Dag::build(&nodes(&[("a", &["nope"])])).unwrap_err();
        assert!(matches!(err, DagError::UnknownDependency { .. }));
    }
}
