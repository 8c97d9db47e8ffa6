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
    nodes: Mutex<HashMap<u64, Node>>,
}

struct Node {
    users: HashSet<UserId>,
    heard: Instant,
}

impl Elsewhere {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<u64, Node>) -> T) -> T {
        f(&mut self.nodes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether some other node has `user` online.
    pub fn has(&self, user: UserId) -> bool {
        self.with(|nodes| nodes.values().any(|node| node.users.contains(&user)))
    }

    /// `user` came online (`true`) or went offline on `node`.
    pub fn set(&self, node: u64, user: UserId, online: bool) {
        self.with(|nodes| {
            let entry = nodes.entry(node).or_insert_with(|| Node {
                users: HashSet::new(),
                heard: Instant::now(),
            });
            entry.heard = Instant::now();
            if online {
                entry.users.insert(user);
            } else {
                entry.users.remove(&user);
            }
        });
    }

    /// `node`'s whole list; true when the node was not known (it just
    /// started, or this one did).
    pub fn replace(&self, node: u64, users: Vec<UserId>) -> bool {
        self.with(|nodes| {
            let node = nodes.insert(
                node,
                Node {
                    users: users.into_iter().collect(),
                    heard: Instant::now(),
                },
            );
            node.is_none()
        })
    }

    /// Forgets nodes silent for longer than `silence` ([`NODE_SILENCE`]);
    /// returns their users who are online on no node left (for the caller
    /// to check against its own connections).
    pub fn expire(&self, silence: Duration) -> Vec<UserId> {
        self.with(|nodes| {
            let now = Instant::now();
            let gone: Vec<u64> = nodes
                .iter()
                .filter(|(_, node)| now.duration_since(node.heard) > silence)
                .map(|(id, _)| *id)
                .collect();
            let mut dropped: Vec<UserId> = Vec::new();
            for id in gone {
                if let Some(node) = nodes.remove(&id) {
                    tracing::warn!(
                        node = id,
                        users = node.users.len(),
                        "a node went silent; its users are offline"
                    );
                    dropped.extend(node.users);
                }
            }
            dropped.retain(|user| !nodes.values().any(|node| node.users.contains(user)));
            dropped.sort_unstable();
            dropped.dedup();
            dropped
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_nodes_users_are_offline_unless_another_node_has_them() {
        let elsewhere = Elsewhere::default();
        assert!(elsewhere.replace(1, vec![UserId(10), UserId(11)]), "a new node");
        assert!(!elsewhere.replace(1, vec![UserId(10), UserId(11)]), "known now");
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
}
