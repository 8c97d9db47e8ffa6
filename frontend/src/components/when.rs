//! `<When>`: leptos's `<Show>`, compiled once for every use.
//!
//! `<Show>` is generic over its condition and its children's view type, so
//! each of the app's ~30 uses compiled its own memo, its own either-view and
//! the code that builds and updates it (issue 13, size). Here the condition
//! is boxed and the children are a `ChildrenFn` (an `AnyView`), so only the
//! closures themselves differ from use to use. It behaves as `<Show>`: the
//! condition is memoised, so the children are built again only when it
//! turns from false to true.

use std::sync::Arc;

use leptos::prelude::*;

#[component(transparent)]
pub fn When(
    /// Shown while `when` is true.
    children: ChildrenFn,
    /// Whether to show the children.
    when: impl Fn() -> bool + Send + Sync + 'static,
    /// Shown while `when` is false (by default, nothing).
    #[prop(optional, into)]
    fallback: ViewFn,
) -> impl IntoView {
    shown(Arc::new(when), children, fallback)
}

fn shown(when: Arc<dyn Fn() -> bool + Send + Sync>, children: ChildrenFn, fallback: ViewFn) -> impl IntoView {
    let when = ArcMemo::new(move |_| when());
    move || if when.get() { children() } else { fallback.run() }
}
