//! Being told of new messages: the unread count in the tab's title and on
//! its icon, desktop notifications while natter is open but not looked at
//! (with an optional short tone), and Web Push through the service worker
//! (`assets/sw.js`) for when it is closed. Permission is asked for only
//! from a button.

use std::collections::HashMap;

use leptos::{prelude::*, task::spawn_local};
use natter_common::ids::ConversationId;
use wasm_bindgen::{prelude::*, JsCast};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Notification, NotificationOptions, NotificationPermission};

use crate::{api, chat::Chat, storage};

/// Where this browser keeps whether a notification plays a tone.
const SOUND_KEY: &str = "natter.sound";

/// Whether the person can be looking: the tab is shown and has focus.
pub fn page_in_view() -> bool {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return false;
    };
    document.visibility_state() == web_sys::VisibilityState::Visible && document.has_focus().unwrap_or(false)
}

fn has(target: &JsValue, name: &str) -> bool {
    js_sys::Reflect::has(target, &JsValue::from_str(name)).unwrap_or(false)
}

/// The Notification API's permission: "granted", "denied", "default", or
/// "unsupported" in a browser without it.
fn permission() -> &'static str {
    if !web_sys::window().is_some_and(|w| has(&w, "Notification")) {
        return "unsupported";
    }
    match Notification::permission() {
        NotificationPermission::Granted => "granted",
        NotificationPermission::Denied => "denied",
        _ => "default",
    }
}

/// Notification state and preferences, shared through `Chat`.
#[derive(Clone, Copy)]
pub struct Alerts {
    /// As [`permission`] last said.
    pub permission: RwSignal<&'static str>,
    /// Whether notifications carry the message's text (kept by the server).
    pub previews: RwSignal<bool>,
    /// Whether a notification plays a short tone (kept in this browser).
    pub sound: RwSignal<bool>,
    /// Whether notifications reach this browser with natter closed, or why not.
    pub push: RwSignal<Result<bool, String>>,
    /// The notification shown per conversation, and the seq it is about.
    shown: StoredValue<HashMap<ConversationId, (i64, Notification)>, LocalStorage>,
    audio: StoredValue<Option<web_sys::AudioContext>, LocalStorage>,
}

impl Alerts {
    pub fn new() -> Self {
        Self {
            permission: RwSignal::new(permission()),
            previews: RwSignal::new(true),
            sound: RwSignal::new(storage::load(SOUND_KEY).unwrap_or(false)),
            push: RwSignal::new(Ok(false)),
            shown: StoredValue::new_local(HashMap::new()),
            audio: StoredValue::new_local(None),
        }
    }

    /// After signing in: the account's settings, and (when notifications
    /// are allowed already) this session's push subscription.
    pub async fn start(self) {
        self.permission.set(permission());
        if let Ok(settings) = api::notification_settings().await {
            self.previews.set(settings.previews);
            self.push.set(Ok(settings.subscribed));
            if self.permission.get_untracked() == "granted" && !settings.subscribed {
                self.subscribe(&settings.push_public_key).await;
            }
        }
    }

    /// The "Enable desktop notifications" button: asks the browser, then
    /// subscribes to Web Push if allowed.
    pub async fn enable(self) {
        if permission() == "unsupported" {
            return;
        }
        if let Ok(asked) = Notification::request_permission() {
            let _ = JsFuture::from(asked).await;
        }
        self.permission.set(permission());
        if permission() == "granted" {
            match api::notification_settings().await {
                Ok(settings) => self.subscribe(&settings.push_public_key).await,
                Err(err) => self.push.set(Err(err.message)),
            }
        }
    }

    async fn subscribe(self, key: &str) {
        let outcome = match subscribe(key).await {
            Ok(json) => api::push_subscribe(json).await.map_err(|e| e.message),
            Err(why) => Err(why),
        };
        self.push.set(outcome.map(|()| true));
    }

    pub fn set_previews(self, on: bool) {
        self.previews.set(on);
        spawn_local(async move {
            if let Ok(settings) = api::update_notification_settings(on).await {
                self.previews.set(settings.previews);
            }
        });
    }

    pub fn set_sound(self, on: bool) {
        self.sound.set(on);
        storage::save(SOUND_KEY, &on);
        if on {
            self.beep();
        }
    }

    /// Shows (or replaces) the notification for `conversation`: clicking it
    /// brings this tab forward with the conversation open.
    #[allow(clippy::too_many_arguments)]
    pub fn show(
        self,
        chat: Chat,
        conversation: ConversationId,
        seq: i64,
        sender: &str,
        group: Option<&str>,
        preview: &str,
        mentioned: bool,
    ) {
        if permission() != "granted" {
            return;
        }
        let title = match group {
            Some(group) => format!("{sender} in {group}"),
            None => sender.to_owned(),
        };
        let body = match (self.previews.get_untracked(), mentioned) {
            (true, _) => preview,
            (false, true) => "Mentioned you",
            (false, false) => "New message",
        };
        let options = NotificationOptions::new();
        options.set_body(body);
        options.set_tag(&format!("c{}", conversation.0));
        if let Some(icon) = original_icon() {
            options.set_icon(&icon);
        }
        let Ok(notification) = Notification::new_with_options(&title, &options) else {
            return;
        };
        let shown = notification.clone();
        let click = Closure::<dyn FnMut()>::new(move || {
            if let Some(window) = web_sys::window() {
                let _ = window.focus();
            }
            chat.goto.set(Some(conversation));
            shown.close();
        });
        notification.set_onclick(Some(click.as_ref().unchecked_ref()));
        click.forget();
        self.shown.update_value(|s| {
            if let Some((_, earlier)) = s.insert(conversation, (seq, notification)) {
                earlier.set_onclick(None);
            }
        });
        if self.sound.get_untracked() {
            self.beep();
        }
    }

    /// Read up to `seq` (here or elsewhere): its notification goes.
    pub fn read(self, conversation: ConversationId, seq: i64) {
        self.shown.update_value(|s| {
            if s.get(&conversation).is_some_and(|(shown, _)| *shown <= seq) {
                if let Some((_, notification)) = s.remove(&conversation) {
                    notification.set_onclick(None);
                    notification.close();
                }
            }
        });
    }

    /// A short, soft two-note tone, made on the spot (no sound file).
    fn beep(self) {
        let context = self.audio.with_value(Clone::clone).or_else(|| {
            let made = web_sys::AudioContext::new().ok()?;
            self.audio.set_value(Some(made.clone()));
            Some(made)
        });
        let Some(context) = context else { return };
        let _ = context.resume();
        let start = context.current_time();
        let tone = |frequency: f32, at: f64| -> Option<()> {
            let oscillator = context.create_oscillator().ok()?;
            let gain = context.create_gain().ok()?;
            oscillator.frequency().set_value(frequency);
            gain.gain().set_value_at_time(0.08, at).ok()?;
            gain.gain().exponential_ramp_to_value_at_time(0.001, at + 0.15).ok()?;
            oscillator.connect_with_audio_node(&gain).ok()?;
            gain.connect_with_audio_node(&context.destination()).ok()?;
            oscillator.start_with_when(at).ok()?;
            oscillator.stop_with_when(at + 0.16).ok()
        };
        tone(880.0, start);
        tone(1320.0, start + 0.1);
    }
}

/// The app's own icon (before any badge was drawn on it).
fn original_icon() -> Option<String> {
    thread_local! {
        static ICON: Option<String> = icon_link().and_then(|link| link.get_attribute("href"));
    }
    ICON.with(Clone::clone)
}

fn icon_link() -> Option<web_sys::Element> {
    web_sys::window()?
        .document()?
        .query_selector("link[rel=icon]")
        .ok()
        .flatten()
}

/// Shows `count` unread messages in the tab's title ("(3) natter") and as a
/// badge on its icon; none gives back the plain ones.
pub fn show_count(count: u32) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let original = original_icon();
    if count == 0 {
        document.set_title("natter");
    } else {
        document.set_title(&format!("({count}) natter"));
    }
    let Some(link) = icon_link() else { return };
    let href = match (count, original) {
        (0, Some(original)) => original,
        (0, None) => return,
        (count, _) => badge_icon(count),
    };
    let _ = link.set_attribute("href", &href);
}

/// The app's icon (`assets/icons/natter.svg`) with a red count in its corner,
/// as a `data:` URL.
fn badge_icon(count: u32) -> String {
    let (label, size) = match count {
        1..=9 => (count.to_string(), 30),
        10..=99 => (count.to_string(), 24),
        _ => ("99+".to_owned(), 17),
    };
    let svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 64 64'>\
         <rect width='64' height='64' rx='14' fill='#3563e9'/>\
         <path d='M14 20a8 8 0 0 1 8-8h20a8 8 0 0 1 8 8v16a8 8 0 0 1-8 8H28l-10 8v-8h0a4 4 0 0 1-4-4z' fill='#fff'/>\
         <circle cx='44' cy='20' r='20' fill='#e5484d'/>\
         <text x='44' y='20' dy='.36em' text-anchor='middle' font-family='sans-serif' font-weight='700' \
         font-size='{size}' fill='#fff'>{label}</text></svg>"
    );
    format!("data:image/svg+xml,{}", js_sys::encode_uri_component(&svg))
}

/// Registers the service worker and subscribes it to Web Push with the
/// server's key; answers the subscription as JSON (its `toJSON()`).
async fn subscribe(key: &str) -> Result<String, String> {
    let window = web_sys::window().ok_or("no window")?;
    let navigator = window.navigator();
    if !has(&navigator, "serviceWorker") || !has(&window, "PushManager") {
        return Err("This browser cannot receive notifications while natter is closed.".into());
    }
    let failed = |e: JsValue| {
        let why = e
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .unwrap_or_default();
        format!("Notifications with natter closed could not be set up: {why}")
    };
    let workers = navigator.service_worker();
    JsFuture::from(workers.register("/sw.js")).await.map_err(failed)?;
    let registration: web_sys::ServiceWorkerRegistration = JsFuture::from(workers.ready().map_err(failed)?)
        .await
        .map_err(failed)?
        .unchecked_into();
    let options = web_sys::PushSubscriptionOptionsInit::new();
    options.set_user_visible_only(true);
    let key = js_sys::Uint8Array::from(base64url(key).as_slice());
    options.set_application_server_key(&key);
    let push = registration.push_manager().map_err(failed)?;
    let subscription = JsFuture::from(push.subscribe_with_options(&options).map_err(failed)?)
        .await
        .map_err(failed)?;
    js_sys::JSON::stringify(&subscription).map(String::from).map_err(failed)
}

/// Signing out: this session's subscription goes, on the server and in the
/// browser (bounded: a push service out of reach must not hold it up).
pub async fn unsubscribe() {
    let _ = api::push_unsubscribe().await;
    let Some(window) = web_sys::window() else { return };
    if !has(&window.navigator(), "serviceWorker") {
        return;
    }
    let work = async {
        let workers = window.navigator().service_worker();
        let registration = JsFuture::from(workers.get_registration()).await.ok()?;
        let registration: web_sys::ServiceWorkerRegistration = registration.dyn_into().ok()?;
        let push = registration.push_manager().ok()?;
        let subscription = JsFuture::from(push.get_subscription().ok()?).await.ok()?;
        if subscription.is_null() || subscription.is_undefined() {
            return None;
        }
        let subscription: web_sys::PushSubscription = subscription.unchecked_into();
        JsFuture::from(subscription.unsubscribe().ok()?).await.ok()
    };
    let timeout = gloo_timers::future::TimeoutFuture::new(3_000);
    futures::pin_mut!(work);
    futures::future::select(work, timeout).await;
}

/// Listens for the service worker's word that a notification was clicked
/// (`{type: "open", conversation_id}`), and opens that conversation.
pub fn listen_to_worker(chat: Chat) {
    let Some(window) = web_sys::window() else { return };
    if !has(&window.navigator(), "serviceWorker") {
        return;
    }
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
        let data = event.data();
        let field = |name: &str| js_sys::Reflect::get(&data, &JsValue::from_str(name)).ok();
        if field("type").and_then(|t| t.as_string()).as_deref() == Some("open") {
            if let Some(id) = field("conversation_id").and_then(|id| id.as_f64()) {
                chat.goto.set(Some(ConversationId(id as i64)));
            }
        }
    });
    window
        .navigator()
        .service_worker()
        .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
}

/// Decodes base64url (padding optional); invalid characters are skipped.
fn base64url(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0);
    for b in text.bytes() {
        let value = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => continue,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_base64url() {
        assert_eq!(base64url("aGk_-w"), vec![b'h', b'i', 0x3f, 0xfb]);
        assert_eq!(base64url("aGk="), b"hi".to_vec());
    }
}
