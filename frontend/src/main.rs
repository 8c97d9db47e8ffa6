//! natter's browser app: a Leptos client-side-rendered SPA built by trunk.

mod api;
mod app;
mod chat;
mod components;
mod erased;
mod notify;
mod pages;
mod socket;
mod state;
mod storage;
mod text;
mod upload;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
