// natter's service worker: shows a notification for each Web Push the
// server sends (a `PushMessage` of natter_common::api, as JSON) while no
// natter tab is looked at, and opens the conversation when one is clicked.
// Nothing is cached: the app is always loaded from the server.

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', event => event.waitUntil(self.clients.claim()));

self.addEventListener('push', event => {
  let message;
  try {
    message = event.data.json();
  } catch {
    return;
  }
  event.waitUntil((async () => {
    // A tab someone is looking at notifies by itself (or not, when the
    // conversation is open there); a visible tab also spares this push from
    // the browser's "must show a notification" rule.
    const windows = await self.clients.matchAll({ type: 'window' });
    if (windows.some(w => w.visibilityState === 'visible' && w.focused)) return;
    const title = message.group ? `${message.sender} in ${message.group}` : message.sender;
    const body = message.preview || (message.mention ? 'Mentioned you' : 'New message');
    // The same tag as the tab's own notifications: a later message of the
    // conversation replaces the earlier one instead of piling up.
    await self.registration.showNotification(title, {
      body,
      tag: 'c' + message.conversation_id,
      data: { conversation_id: message.conversation_id },
    });
  })());
});

self.addEventListener('notificationclick', event => {
  event.notification.close();
  const id = event.notification.data && event.notification.data.conversation_id;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const client = windows.find(w => w.focused) || windows[0];
    if (client) {
      // The app routes there itself (frontend/src/notify.rs), keeping its state.
      if (id) client.postMessage({ type: 'open', conversation_id: id });
      return client.focus();
    }
    return self.clients.openWindow(id ? '/c/' + id : '/');
  })());
});
