-- Contacts, blocks, conversations (DM pairs and groups), members, and each
-- conversation's event log.

CREATE TABLE conversations (
    id         INTEGER PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('direct', 'group')),
    -- Direct: the pair, lower user id first, so a pair has one conversation.
    dm_low     INTEGER REFERENCES users(id) ON DELETE CASCADE,
    dm_high    INTEGER REFERENCES users(id) ON DELETE CASCADE,
    -- Group: its name.
    name       TEXT,
    -- seq of the newest event; the next event gets last_seq + 1.
    last_seq   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    CHECK ((kind = 'direct' AND dm_low < dm_high AND name IS NULL)
        OR (kind = 'group' AND dm_low IS NULL AND dm_high IS NULL AND name IS NOT NULL)),
    UNIQUE (dm_low, dm_high)
) STRICT;

CREATE TABLE members (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role            TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at       INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX members_by_user ON members(user_id, conversation_id);

CREATE TABLE events (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    id              TEXT    NOT NULL UNIQUE,
    sender_id       INTEGER NOT NULL REFERENCES users(id),
    client_msg_id   TEXT,
    created_at      INTEGER NOT NULL,
    -- The EventBody as JSON (its "type" tag included).
    body            TEXT    NOT NULL,
    PRIMARY KEY (conversation_id, seq)
) STRICT, WITHOUT ROWID;

-- A retried send with the same client_msg_id finds the original event.
CREATE UNIQUE INDEX events_by_client_msg_id ON events(sender_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;

-- Both directions are stored, so each user's list is one index range.
CREATE TABLE contacts (
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    contact_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, contact_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE contact_requests (
    id         INTEGER PRIMARY KEY,
    from_user  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    to_user    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    CHECK (from_user <> to_user),
    UNIQUE (from_user, to_user)
) STRICT;

CREATE INDEX contact_requests_to ON contact_requests(to_user);

CREATE TABLE blocks (
    blocker    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    blocked    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (blocker, blocked)
) STRICT, WITHOUT ROWID;

-- Prefix search on display names (usernames use their UNIQUE NOCASE index).
CREATE INDEX users_by_display_name ON users(display_name COLLATE NOCASE, id);
