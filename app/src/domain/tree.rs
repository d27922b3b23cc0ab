//! Building a step tree from a job's steps, rolling progress up, and flattening it again.

use std::collections::HashMap;

use uuid::Uuid;

use super::{Status, Step, StepNode};

/// Arrange steps into trees: roots are the steps whose parent is not among `steps` (for a whole job,
/// the steps directly under it). Siblings are ordered by number. Progress is rolled up (see
/// [`roll_up`]). Runs in O(n log n) for n steps, whatever the depth.
pub fn build_tree(steps: Vec<Step>) -> Vec<StepNode> {
    let ids: std::collections::HashSet<Uuid> = steps.iter().map(|s| s.id).collect();
    let mut children: HashMap<Option<Uuid>, Vec<Step>> = HashMap::new();
    for step in steps {
        let key = step.parent_step_id.filter(|p| ids.contains(p));
        children.entry(key).or_default().push(step);
    }
    for list in children.values_mut() {
        list.sort_by_key(|s| s.number);
    }
    // Iterative, so a deep tree cannot overflow the stack.
    let roots = children.remove(&None).unwrap_or_default();
    let mut out = Vec::with_capacity(roots.len());
    for root in roots {
        out.push(assemble(root, &mut children));
    }
    out
}

fn assemble(root: Step, children: &mut HashMap<Option<Uuid>, Vec<Step>>) -> StepNode {
    // Post-order assembly with an explicit stack of (node, remaining children).
    let mut stack: Vec<(StepNode, std::vec::IntoIter<Step>)> = Vec::new();
    let kids = children.remove(&Some(root.id)).unwrap_or_default();
    stack.push((
        StepNode {
            step: root,
            children: Vec::new(),
        },
        kids.into_iter(),
    ));
    loop {
        let next = stack.last_mut().and_then(|(_, it)| it.next());
        match next {
            Some(child) => {
                let kids = children.remove(&Some(child.id)).unwrap_or_default();
                stack.push((
                    StepNode {
                        step: child,
                        children: Vec::new(),
                    },
                    kids.into_iter(),
                ));
            }
            None => {
                let (mut node, _) = stack.pop().expect("stack is not empty");
                node.step.progress = roll_up(&node);
                match stack.last_mut() {
                    Some((parent, _)) => parent.children.push(node),
                    None => return node,
                }
            }
        }
    }
}

/// A step's shown progress: its own where it has one; otherwise the mean of its sub-steps, where a
/// finished sub-step counts 100, another ended one 100 (it is no longer work to do) and a running one
/// without progress 0. A leaf without progress has none, and so has a step that failed or was
/// aborted (its work did not get done, however its sub-steps ended), as a job that did has none.
pub fn roll_up(node: &StepNode) -> Option<i16> {
    if node.step.progress.is_some()
        || node.children.is_empty()
        || matches!(node.step.status, Status::Failed | Status::Aborted)
    {
        return node.step.progress;
    }
    let mut known = false;
    let mut sum: i32 = 0;
    for child in &node.children {
        let value = match (child.step.progress, child.step.status.is_terminal()) {
            (_, true) => {
                known = true;
                100
            }
            (Some(p), false) => {
                known = true;
                i32::from(p)
            }
            (None, false) => 0,
        };
        sum += value;
    }
    known.then(|| (sum / node.children.len() as i32) as i16)
}

/// The job-level roll-up over its top steps, by the same rule as [`roll_up`]; 100 once finished,
/// none once failed or aborted.
pub fn job_progress(status: Status, roots: &[StepNode]) -> Option<i16> {
    // A job that failed or was aborted has no meaningful progress.
    match status {
        Status::Finished => return Some(100),
        Status::Failed | Status::Aborted => return None,
        _ => {}
    }
    let node = StepNode {
        step: Step {
            id: Uuid::nil(),
            job_id: Uuid::nil(),
            parent_step_id: None,
            number: 0,
            step_type: super::StepType::Executing,
            description: String::new(),
            status,
            is_external: true,
            progress: None,
            start_time: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            end_time: None,
            result: None,
        },
        children: roots.to_vec(),
    };
    roll_up(&node)
}

/// Depth-first, parent before its children, siblings by number.
pub fn flatten(tree: Vec<StepNode>) -> Vec<Step> {
    let mut out = Vec::new();
    let mut stack: Vec<StepNode> = tree.into_iter().rev().collect();
    while let Some(node) = stack.pop() {
        let StepNode { step, children } = node;
        out.push(step);
        stack.extend(children.into_iter().rev());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::StepType;

    fn step(
        id: u128,
        parent: Option<u128>,
        number: i32,
        status: Status,
        progress: Option<i16>,
    ) -> Step {
        Step {
            id: Uuid::from_u128(id),
            job_id: Uuid::nil(),
            parent_step_id: parent.map(Uuid::from_u128),
            number,
            step_type: StepType::Executing,
            description: format!("s{id}"),
            status,
            is_external: true,
            progress,
            start_time: chrono::Utc::now(),
            end_time: None,
            result: None,
        }
    }

    #[test]
    fn siblings_are_ordered_by_number_and_flattening_puts_parents_first() {
        let steps = vec![
            step(3, Some(1), 1, Status::Started, None),
            step(2, Some(1), 0, Status::Started, None),
            step(4, None, 1, Status::Started, None),
            step(1, None, 0, Status::Started, None),
        ];
        let order: Vec<u128> = flatten(build_tree(steps))
            .iter()
            .map(|s| s.id.as_u128())
            .collect();
        assert_eq!(order, vec![1, 2, 3, 4]);
    }

    #[test]
    fn a_parent_without_progress_shows_the_mean_of_its_children() {
        let steps = vec![
            step(1, None, 0, Status::Started, None),
            step(2, Some(1), 0, Status::Finished, None),
            step(3, Some(1), 1, Status::Started, Some(50)),
            step(4, Some(1), 2, Status::Started, None),
        ];
        let tree = build_tree(steps);
        assert_eq!(tree[0].step.progress, Some(50));
    }

    #[test]
    fn a_parent_with_its_own_progress_keeps_it() {
        let steps = vec![
            step(1, None, 0, Status::Started, Some(10)),
            step(2, Some(1), 0, Status::Finished, None),
        ];
        assert_eq!(build_tree(steps)[0].step.progress, Some(10));
    }

    #[test]
    fn a_parent_that_failed_or_was_aborted_shows_only_its_own_progress() {
        for status in [Status::Failed, Status::Aborted] {
            let steps = vec![
                step(1, None, 0, status, None),
                step(2, Some(1), 0, Status::Finished, None),
                step(3, Some(1), 1, Status::Aborted, Some(40)),
                step(4, None, 1, status, Some(30)),
                step(5, Some(4), 0, Status::Finished, None),
            ];
            let tree = build_tree(steps);
            assert_eq!(tree[0].step.progress, None, "{status}");
            assert_eq!(tree[0].children[1].step.progress, Some(40), "{status}");
            assert_eq!(tree[1].step.progress, Some(30), "{status}");
        }
        let finished = build_tree(vec![
            step(1, None, 0, Status::Finished, None),
            step(2, Some(1), 0, Status::Aborted, None),
        ]);
        assert_eq!(finished[0].step.progress, Some(100));
    }

    #[test]
    fn a_running_leaf_without_progress_has_none() {
        let tree = build_tree(vec![step(1, None, 0, Status::Started, None)]);
        assert_eq!(tree[0].step.progress, None);
    }

    #[test]
    fn a_very_deep_tree_does_not_overflow_the_stack() {
        let steps: Vec<Step> = (1..=50_000u128)
            .map(|i| step(i, (i > 1).then(|| i - 1), 0, Status::Started, None))
            .collect();
        let flat = flatten(build_tree(steps));
        assert_eq!(flat.len(), 50_000);
        assert_eq!(flat[0].id.as_u128(), 1);
    }
}
