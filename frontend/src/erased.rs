//! leptos's `Effect::new` and `LocalResource::new` behind boxed closures,
//! so that their machinery is compiled once (per value type) instead of
//! once per use. Each is generic over its closure: every effect compiled
//! its own copy of the task that waits for a change and re-runs it (~1 KB
//! of wasm each), every resource its own fetch loop (issue 13, size).

use std::future::Future;

use futures::future::LocalBoxFuture;
use leptos::prelude::*;

/// Runs `f` now and again whenever a signal it read changes, for as long
/// as the current owner lives (as `Effect::new(move |_| f())`).
pub fn effect(f: impl FnMut() + 'static) {
    boxed_effect(Box::new(f));
}

fn boxed_effect(f: Box<dyn FnMut()>) {
    Effect::new(f);
}

/// `LocalResource::new(fetch)`: runs `fetch` again whenever a signal it
/// read changes, and holds the newest answer.
pub fn resource<T: 'static, F: Future<Output = T> + 'static>(fetch: impl Fn() -> F + 'static) -> LocalResource<T> {
    boxed_resource(Box::new(move || Box::pin(fetch())))
}

fn boxed_resource<T: 'static>(fetch: Box<dyn Fn() -> LocalBoxFuture<'static, T>>) -> LocalResource<T> {
    LocalResource::new(fetch)
}
