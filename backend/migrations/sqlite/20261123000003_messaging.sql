-- Read positions, and the event kind as a column for unread counts.

CREATE TABLE read_markers (
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
) STRICT, WITHOUT ROWID;

ALTER TABLE events ADD COLUMN kind TEXT GENERATED ALWAYS AS (json_extract(body, '$.type')) VIRTUAL;
