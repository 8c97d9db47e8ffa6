//! The image viewer: an image of the open conversation at full size over
//! the whole window, stepping through the conversation's images in
//! timeline order (arrow keys, the on-screen buttons, or a swipe on a touch
//! screen). Escape, the close
//! button or a click beside the image closes it, and focus goes back to
//! the thumbnail that opened it.

use std::cell::OnceCell;

use leptos::{ev, html, prelude::*};
use natter_common::events::MessageContent;
use wasm_bindgen::JsCast;
use web_sys::HtmlElement;

use super::when::When;
use crate::{chat::Timeline, erased::effect};

/// Which image is shown: the seq of its message (none for one still
/// being sent) and its media id.
type Shown = (Option<i64>, String);

/// The app's one viewer.
#[derive(Clone, Copy)]
struct Viewer {
    /// The conversation it steps through; `None` while closed.
    timeline: RwSignal<Option<Timeline>>,
    shown: RwSignal<Shown>,
    /// The thumbnail that opened it, which gets focus back.
    opener: StoredValue<Option<HtmlElement>, LocalStorage>,
}

thread_local! {
    /// The viewer and the reactive root it lives in, made on first use.
    static VIEWER: OnceCell<(Owner, Viewer)> = const { OnceCell::new() };
}

/// Opens the viewer on image `media_id` of `timeline`, from `opener` (the
/// thumbnail, inside its message's row).
pub fn open(timeline: Timeline, media_id: String, opener: Option<HtmlElement>) {
    let viewer = VIEWER.with(|cell| cell.get_or_init(mount).1);
    // The row says which message this is: the same image can be sent twice.
    let seq = opener
        .as_ref()
        .and_then(|el| el.closest("[data-seq]").ok().flatten())
        .and_then(|row| row.get_attribute("data-seq"))
        .and_then(|seq| seq.parse().ok())
        .or_else(|| {
            images(timeline)
                .into_iter()
                .find(|(_, id)| *id == media_id)
                .map(|(seq, _)| seq)
        });
    viewer.opener.set_value(opener);
    viewer.shown.set((seq, media_id));
    viewer.timeline.set(Some(timeline));
}

/// Mounts the viewer at the end of `<body>`, in a reactive root of its own:
/// it must outlive the message row that opened it, which is rendered anew
/// whenever its message changes (someone reacts to the photo, say).
fn mount() -> (Owner, Viewer) {
    let root = Owner::new_root(None);
    let viewer = root.with(|| {
        let viewer = Viewer {
            timeline: RwSignal::new(None),
            shown: RwSignal::new((None, String::new())),
            opener: StoredValue::new_local(None),
        };
        if let Some(body) = document().body() {
            leptos::mount::mount_to(body, move || {
                view! {
                    <When when=move || viewer.timeline.with(Option::is_some)>
                        <Dialog viewer />
                    </When>
                }
            })
            .forget();
        }
        viewer
    });
    (root, viewer)
}

/// The images of a timeline, oldest first, as (seq, media id); deleted
/// messages have none.
fn images(timeline: Timeline) -> Vec<(i64, String)> {
    timeline.entries.with(|entries| {
        entries
            .iter()
            .filter_map(|entry| {
                entry.now.as_ref()?.with(|now| match &now.content {
                    MessageContent::Image { media_id } => Some((entry.event.seq, media_id.clone())),
                    _ => None,
                })
            })
            .collect()
    })
}

/// Closes the viewer and puts focus back where it came from: the opening
/// thumbnail, or if that was rendered anew, its successor, or the shown
/// image's, or the composer.
fn close(viewer: Viewer) {
    if viewer.timeline.with_untracked(Option::is_none) {
        return;
    }
    let (seq, media_id) = viewer.shown.get_untracked();
    viewer.timeline.set(None);
    let opener = viewer.opener.try_update_value(Option::take).flatten();
    let opened_at = opener.as_ref().and_then(|el| el.get_attribute("data-media"));
    let back = opener
        .filter(|el| el.is_connected())
        .or_else(|| opened_at.and_then(|id| thumbnail(None, &id)))
        .or_else(|| thumbnail(seq, &media_id));
    match back {
        Some(el) => {
            let _ = el.focus();
        }
        None => super::message::focus_composer(),
    }
}

/// The thumbnail of image `media_id` in the timeline, in the row `seq` if
/// given.
fn thumbnail(seq: Option<i64>, media_id: &str) -> Option<HtmlElement> {
    let selector = match seq {
        Some(seq) => format!(".timeline li[data-seq='{seq}'] button.image-link"),
        None => ".timeline button.image-link".to_owned(),
    };
    let found = document().query_selector_all(&selector).ok()?;
    (0..found.length())
        .filter_map(|i| found.item(i)?.dyn_into::<HtmlElement>().ok())
        .find(|el| el.get_attribute("data-media").as_deref() == Some(media_id))
}

/// Keeps Tab and Shift+Tab among a modal dialog's controls.
pub(crate) fn trap_focus(ev: &web_sys::KeyboardEvent, dialog: &web_sys::Element) {
    let Ok(controls) = dialog.query_selector_all("a[href], button:not([disabled]), input:not([disabled])") else {
        return;
    };
    let controls: Vec<HtmlElement> = (0..controls.length())
        .filter_map(|i| controls.item(i)?.dyn_into::<HtmlElement>().ok())
        .collect();
    let (Some(first), Some(last)) = (controls.first(), controls.last()) else {
        return;
    };
    let active = document().active_element();
    let at = |el: &HtmlElement| {
        active
            .as_ref()
            .is_some_and(|a| a == el.unchecked_ref::<web_sys::Element>())
    };
    let inside = controls.iter().any(at);
    let target = match (ev.shift_key(), inside) {
        (true, true) if at(first) => last,
        (true, false) => last,
        (false, true) if at(last) => first,
        (false, false) => first,
        _ => return,
    };
    ev.prevent_default();
    let _ = target.focus();
}

#[component]
fn Dialog(viewer: Viewer) -> impl IntoView {
    let Some(timeline) = viewer.timeline.get_untracked() else {
        return ().into_any();
    };
    let all = Memo::new(move |_| images(timeline));
    // Where the shown image is among them; none for one still being sent.
    let position = Memo::new(move |_| {
        let seq = viewer.shown.with(|s| s.0);
        all.with(|all| all.iter().position(|(at, _)| Some(*at) == seq))
    });
    let step = move |by: isize| {
        let next = position
            .get_untracked()
            .and_then(|i| i.checked_add_signed(by))
            .and_then(|i| all.with_untracked(|all| all.get(i).cloned()));
        if let Some((seq, media_id)) = next {
            viewer.shown.set((Some(seq), media_id));
        }
    };
    let has_previous = move || position.get().is_some_and(|i| i > 0);
    let has_next = move || position.get().is_some_and(|i| i + 1 < all.with(Vec::len));
    let count = move || position.get().map(|i| format!("{} of {}", i + 1, all.with(Vec::len)));
    let media_id = move || viewer.shown.with(|s| s.1.clone());

    let dialog = NodeRef::<html::Div>::new();
    let close_button = NodeRef::<html::Button>::new();
    // Focus moves in as it opens.
    effect(move || {
        if let Some(button) = close_button.get() {
            let _ = button.focus();
        }
    });
    // An image deleted while shown is not shown any longer.
    Effect::new(move |before: Option<(Option<i64>, bool)>| {
        let seq = viewer.shown.with(|s| s.0);
        let listed = position.get().is_some();
        if before == Some((seq, true)) && !listed {
            close(viewer);
        }
        (seq, listed)
    });
    // Keys work wherever focus is, while it is open; with a modifier they
    // are the browser's (Alt+Left is Back).
    let keys = window_event_listener(ev::keydown, move |ev| match ev.key().as_str() {
        _ if ev.alt_key() || ev.ctrl_key() || ev.meta_key() => {}
        "Escape" => {
            ev.prevent_default();
            close(viewer);
        }
        "ArrowLeft" => {
            ev.prevent_default();
            step(-1);
        }
        "ArrowRight" => {
            ev.prevent_default();
            step(1);
        }
        "Tab" => {
            if let Some(dialog) = dialog.get_untracked() {
                trap_focus(&ev, &dialog);
            }
        }
        _ => {}
    });
    // Going back in history leaves the conversation: the viewer goes too.
    let back = window_event_listener(ev::popstate, move |_| close(viewer));
    on_cleanup(move || {
        keys.remove();
        back.remove();
    });
    // A swipe (touch or pen) steps: to the left for the next image, to
    // the right for the previous one. Mostly sideways and at least
    // `SWIPE` px; it is not also taken as a click beside the image.
    const SWIPE: i32 = 40;
    let swipe_from = StoredValue::new(None::<(i32, i32, i32)>);
    let swiped = StoredValue::new(false);
    // One handler for down, up and cancel (one closure in the wasm, not three).
    let on_pointer = move |ev: ev::PointerEvent| {
        let start = swipe_from.try_update_value(Option::take).flatten();
        match ev.type_().as_str() {
            "pointerdown" => {
                swiped.set_value(false);
                let start = (ev.pointer_type() != "mouse" && ev.is_primary())
                    .then(|| (ev.pointer_id(), ev.client_x(), ev.client_y()));
                swipe_from.set_value(start);
            }
            "pointerup" => {
                let Some((id, x, y)) = start else { return };
                let (dx, dy) = (ev.client_x() - x, ev.client_y() - y);
                if id == ev.pointer_id() && dx.abs() >= SWIPE && dx.abs() > 2 * dy.abs() {
                    swiped.set_value(true);
                    step(if dx < 0 { 1 } else { -1 });
                }
            }
            // Cancelled: the browser took the touch over.
            _ => {}
        }
    };
    // A click on the backdrop, beside the image, closes it.
    let on_backdrop = move |ev: ev::MouseEvent| {
        if ev.target() == ev.current_target() && !swiped.get_value() {
            close(viewer);
        }
    };

    view! {
        <div class="image-viewer" role="dialog" aria-modal="true" aria-label="Image viewer" tabindex="-1"
            node_ref=dialog on:click=on_backdrop>
            <div class="viewer-bar" on:click=on_backdrop>
                <p class="viewer-count" aria-live="polite">{count}</p>
                <a class="viewer-original button-link" href=move || format!("/media/{}", media_id()) target="_blank" rel="noopener">
                    "Open original"
                </a>
                <button type="button" class="viewer-close" aria-label="Close" title="Close (Esc)" node_ref=close_button
                    on:click=move |_| close(viewer)>"✕"</button>
            </div>
            <div class="viewer-stage" on:click=on_backdrop on:pointerdown=on_pointer on:pointerup=on_pointer
                on:pointercancel=on_pointer>
                <button type="button" class="viewer-prev" aria-label="Previous image" title="Previous image (←)"
                    aria-disabled=move || (!has_previous()).to_string() on:click=move |_| step(-1)>"‹"</button>
                // A new element per image, so the last one does not linger while the next loads.
                {move || {
                    let src = format!("/media/{}", media_id());
                    let alt = untrack(count).map_or_else(|| "Image".to_owned(), |count| format!("Image {count}"));
                    view! { <img class="viewer-image" src=src alt=alt /> }
                }}
                <button type="button" class="viewer-next" aria-label="Next image" title="Next image (→)"
                    aria-disabled=move || (!has_next()).to_string() on:click=move |_| step(1)>"›"</button>
            </div>
        </div>
    }
    .into_any()
}
