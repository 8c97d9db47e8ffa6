//! leptos's `Effect::new` and `LocalResource::new` behind boxed closures,
//! so that their machinery is compiled once instead of once per use. Each
//! is generic over its closure: every effect compiled its own copy of the
//! task that waits for a change and re-runs it (~1 KB of wasm each), every
//! resource its own fetch loop; and a resource's is generic over its value
//! too, so its answer is held as `Rc<dyn Any>` (issue 13, size).

use std::{any::Any, future::Future, marker::PhantomData, rc::Rc};

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
pub fn resource<T: 'static, F: Future<Output = T> + 'static>(fetch: impl Fn() -> F + 'static) -> Resource<T> {
    Resource {
        answer: boxed_resource(Box::new(move || {
            let answer = fetch();
            Box::pin(async move { Rc::new(answer.await) as Rc<dyn Any> })
        })),
        value: PhantomData,
    }
}

fn boxed_resource(fetch: Box<dyn Fn() -> LocalBoxFuture<'static, Rc<dyn Any>>>) -> LocalResource<Rc<dyn Any>> {
    LocalResource::new(fetch)
}

/// A `LocalResource<T>` whose answer is kept as `Rc<dyn Any>`: the
/// machinery of leptos's async values is compiled once, not for each `T`
/// (~3.5 KB of wasm each).
pub struct Resource<T> {
    answer: LocalResource<Rc<dyn Any>>,
    value: PhantomData<fn() -> T>,
}

impl<T> Clone for Resource<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Resource<T> {}

impl<T: Clone + 'static> Resource<T> {
    /// The newest answer (`None` while the first is loading); tracked, as
    /// `LocalResource::get`.
    pub fn get(&self) -> Option<T> {
        self.answer.get().and_then(|answer| answer.downcast_ref::<T>().cloned())
    }
}
