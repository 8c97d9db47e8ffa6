-- Notifications: whom messages mention, what each member wants to hear
-- about, and where to push when they are away.

-- One row per user a message (as it stands now) mentions; unread mention
-- counts are a range count here. Edits replace a message's rows, deletion
-- removes them.
CREATE TABLE mentions (
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    PRIMARY KEY (user_id, conversation_id, seq),
    FOREIGN KEY (conversation_id, seq) REFERENCES events(conversation_id, seq) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- 'default', 'all', 'mentions' or 'muted' (common::api::NotifyLevel). A
-- member's own: leaving and coming back starts from the default.
ALTER TABLE members ADD COLUMN notify TEXT NOT NULL DEFAULT 'default';

-- Whether pushed notifications may carry message text.
ALTER TABLE users ADD COLUMN push_previews INTEGER NOT NULL DEFAULT 1;

-- One Web Push subscription per session: signing out (deleting the
-- session) removes it.
CREATE TABLE push_subscriptions (
    session_id INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    endpoint   TEXT    NOT NULL,
    -- The browser's P-256 public key (65 bytes) and auth secret (16 bytes).
    p256dh     BLOB    NOT NULL,
    auth       BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX push_subscriptions_by_user ON push_subscriptions(user_id);

-- Edits and deletions replace one message's rows.
CREATE INDEX mentions_by_message ON mentions(conversation_id, seq);
