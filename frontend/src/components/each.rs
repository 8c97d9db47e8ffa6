//! `<Each>`: leptos's keyed `<For>`, compiled once for every use.
//!
//! `<For>` is generic over its items, their key and their view, so each of
//! the app's lists compiled its own copy of the keyed diff, the code that
//! builds and moves the rows and the effect that runs it (~4 KB of wasm
//! each; issue 13, size). Here each item is handed to one `<For>` as a
//! `Row`: its key behind a `dyn` (still compared by type and value) and
//! the closure that builds its view. It behaves as `<For>`: a row is built
//! only for a key not shown before, under an owner of its own, and rows
//! whose key stays are kept and moved, not rebuilt.

use std::{
    any::Any,
    hash::{Hash, Hasher},
    sync::Arc,
};

use leptos::prelude::*;

#[component]
pub fn Each<T, K, N>(
    /// The items, in order.
    each: impl Fn() -> Vec<T> + Send + 'static,
    /// An item's key: the row of an item whose key was shown before is kept.
    key: impl Fn(&T) -> K + Send + 'static,
    /// An item's view.
    children: impl Fn(T) -> N + Send + Sync + 'static,
) -> impl IntoView
where
    T: Send + 'static,
    K: Eq + Hash + Send + Sync + 'static,
    N: IntoView + 'static,
{
    let children = Arc::new(children);
    rows(Box::new(move || {
        each()
            .into_iter()
            .map(|item| {
                let children = children.clone();
                Row {
                    key: Key(Arc::new(key(&item))),
                    view: Box::new(move || children(item).into_any()),
                }
            })
            .collect()
    }))
}

fn rows(each: Box<dyn Fn() -> Vec<Row> + Send>) -> impl IntoView {
    view! { <For each key=|row: &Row| row.key.clone() children=|row: Row| (row.view)() /> }
}

/// One item: its key and what builds its view.
struct Row {
    key: Key,
    view: Box<dyn FnOnce() -> AnyView + Send>,
}

/// A key of any type: equal to a key of the same type and value.
#[derive(Clone)]
struct Key(Arc<dyn ListKey>);

trait ListKey: Send + Sync {
    fn equals(&self, other: &dyn Any) -> bool;
    fn hash_into(&self, state: &mut dyn Hasher);
    fn as_any(&self) -> &dyn Any;
}

impl<K: Eq + Hash + Send + Sync + 'static> ListKey for K {
    fn equals(&self, other: &dyn Any) -> bool {
        other.downcast_ref::<K>() == Some(self)
    }

    fn hash_into(&self, mut state: &mut dyn Hasher) {
        self.hash(&mut state);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0.equals(other.0.as_any())
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash_into(state);
    }
}
