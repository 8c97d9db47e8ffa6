//! Who is online on the other nodes, as each last said (through the bus):
//! a change as it happens, and its whole list every few seconds, which
//! also says the node is alive. A node not heard from for a while is taken
//! to be gone, and so are its users.

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
    time::{Duration, Instant},
};

use natter_common::ids::UserId;

/// A node is gone when its list is this much overdue.
pub const NODE_SILENCE: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Elsewhere {
    nodes: Mutex<Nodes>,
}

#[derive(Default)]
struct Nodes {
    by_id: HashMap<u64, Node>,
    /// Nodes that said they are stopping: what they say after is ignored
    /// (a restarted node has a new id).
    left: HashSet<u64>,
}

struct Node {
    users: HashSet<UserId>,
    heard: Instant,
    /// A whole list whose parts are arriving.
    coming: Option<Coming>,
}

struct Coming {
    round: u64,
    parts_left: u32,
    users: Vec<UserId>,
}

impl Node {
    fn new() -> Self {
        Self {
            users: HashSet::new(),
            heard: Instant::now(),
            coming: None,
        }
    }
}

impl Elsewhere {
    fn with<T>(&self, f: impl FnOnce(&mut Nodes) -> T) -> T {
        f(&mut self.nodes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether some other node has `user` online.
    pub fn has(&self, user: UserId) -> bool {
        self.with(|nodes| nodes.by_id.values().any(|node| node.users.contains(&user)))
    }

    /// `user` came online (`true`) or went offline on `node`.
    pub fn set(&self, node: u64, user: UserId, online: bool) {
        self.with(|nodes| {
            if nodes.left.contains(&node) {
                return;
            }
            let entry = nodes.by_id.entry(node).or_insert_with(Node::new);
            entry.heard = Instant::now();
            if online {
                entry.users.insert(user);
            } else {
                entry.users.remove(&user);
            }
        });
    }

    /// A part of `node`'s whole list (`parts` of them in `round`): the list
    /// replaces the last once all its parts came (a round with a part lost
    /// leaves the last list, and the deltas since, standing). True when the
    /// node was not known (it just started, or this one did).
    pub fn replace(&self, node: u64, round: u64, parts: u32, users: Vec<UserId>) -> bool {
        self.with(|nodes| {
            if nodes.left.contains(&node) {
                return false;
            }
            let known = nodes.by_id.contains_key(&node);
            let entry = nodes.by_id.entry(node).or_insert_with(Node::new);
            entry.heard = Instant::now();
            let coming = match &mut entry.coming {
                Some(coming) if coming.round == round => coming,
                slot => slot.insert(Coming {
                    round,
                    parts_left: parts,
                    users: Vec::new(),
                }),
            };
            coming.users.extend(users);
            coming.parts_left = coming.parts_left.saturating_sub(1);
            if coming.parts_left == 0 {
                let whole = std::mem::take(&mut coming.users);
                entry.users = whole.into_iter().collect();
                entry.coming = None;
            }
            !known
        })
    }

    /// Forgets nodes silent for longer than `silence` ([`NODE_SILENCE`]);
    /// returns their users who are online on no node left (for the caller
    /// to check against its own connections).
    pub fn expire(&self, silence: Duration) -> Vec<UserId> {
        self.with(|nodes| {
            let now = Instant::now();
            let gone: Vec<u64> = nodes
                .by_id
                .iter()
                .filter(|(_, node)| now.duration_since(node.heard) > silence)
                .map(|(id, _)| *id)
                .collect();
            for id in &gone {
                if let Some(node) = nodes.by_id.get(id) {
                    tracing::warn!(
                        node = id,
                        users = node.users.len(),
                        "a node went silent; its users are offline"
                    );
                }
            }
            remove(&mut nodes.by_id, &gone)
        })
    }

    /// Forgets `node`, which said it is stopping, and whatever it says
    /// after; returns its users online on no node left, as [`Self::expire`]
    /// does.
    pub fn forget(&self, node: u64) -> Vec<UserId> {
        self.with(|nodes| {
            nodes.left.insert(node);
            if let Some(left) = nodes.by_id.get(&node) {
                tracing::info!(node, users = left.users.len(), "a node stopped; its users are offline");
            }
            remove(&mut nodes.by_id, &[node])
        })
    }
}

/// Removes the nodes `gone`; their users who are online on no node left.
fn remove(nodes: &mut HashMap<u64, Node>, gone: &[u64]) -> Vec<UserId> {
    let mut dropped: Vec<UserId> = gone
        .iter()
        .filter_map(|id| nodes.remove(id))
        .flat_map(|node| node.users)
        .collect();
    dropped.retain(|user| !nodes.values().any(|node| node.users.contains(user)));
    dropped.sort_unstable();
    dropped.dedup();
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_nodes_users_are_offline_unless_another_node_has_them() {
        let elsewhere = Elsewhere::default();
        assert!(elsewhere.replace(1, 0, 1, vec![UserId(10), UserId(11)]), "a new node");
        assert!(!elsewhere.replace(1, 1, 1, vec![UserId(10), UserId(11)]), "known now");
        elsewhere.set(2, UserId(11), true);
        assert!(elsewhere.has(UserId(10)) && elsewhere.has(UserId(11)));
        assert!(elsewhere.expire(NODE_SILENCE).is_empty(), "both heard just now");
        std::thread::sleep(Duration::from_millis(5));
        elsewhere.set(2, UserId(12), true);
        // Node 1 is silent past a 1 ms limit; node 2 was heard just now.
        assert_eq!(elsewhere.expire(Duration::from_millis(1)), vec![UserId(10)]);
        assert!(!elsewhere.has(UserId(10)));
        assert!(elsewhere.has(UserId(11)), "still on node 2");
        elsewhere.set(2, UserId(11), false);
        assert!(!elsewhere.has(UserId(11)));
    }

    #[test]
    fn a_stopping_nodes_users_are_offline_at_once_unless_another_node_has_them() {
        let elsewhere = Elsewhere::default();
        elsewhere.replace(1, 0, 1, vec![UserId(10), UserId(11)]);
        elsewhere.set(2, UserId(11), true);
        assert_eq!(elsewhere.forget(1), vec![UserId(10)]);
        assert!(!elsewhere.has(UserId(10)));
        assert!(elsewhere.has(UserId(11)), "still on node 2");
        assert!(elsewhere.forget(1).is_empty(), "forgotten already");
        // What it says after (a note overtaken by its leaving) is ignored.
        elsewhere.set(1, UserId(10), true);
        assert!(!elsewhere.replace(1, 1, 1, vec![UserId(10)]), "not taken as a new node");
        assert!(!elsewhere.has(UserId(10)));
    }

    #[test]
    fn a_list_in_parts_counts_once_all_came_and_a_lost_part_leaves_the_last() {
        let elsewhere = Elsewhere::default();
        elsewhere.replace(1, 0, 1, vec![UserId(1)]);
        // Round 1 in three parts: nothing changes until the last.
        elsewhere.replace(1, 1, 3, vec![UserId(10)]);
        elsewhere.replace(1, 1, 3, vec![UserId(11)]);
        assert!(elsewhere.has(UserId(1)) && !elsewhere.has(UserId(10)));
        elsewhere.replace(1, 1, 3, vec![UserId(12)]);
        assert!(!elsewhere.has(UserId(1)));
        assert!([10, 11, 12].iter().all(|id| elsewhere.has(UserId(*id))));
        // Round 2 loses its second part; round 3 starts afresh.
        elsewhere.replace(1, 2, 2, vec![UserId(20)]);
        elsewhere.replace(1, 3, 2, vec![UserId(30)]);
        assert!(
            elsewhere.has(UserId(10)) && !elsewhere.has(UserId(20)),
            "round 2 never counted"
        );
        elsewhere.replace(1, 3, 2, vec![UserId(31)]);
        assert!(elsewhere.has(UserId(30)) && elsewhere.has(UserId(31)) && !elsewhere.has(UserId(10)));
    }
}
