-- Edits, deletions and reactions. They are events in the log like any
-- other; these columns and the reactions table keep each message's current
-- state next to it, so a history page shows messages as they are now
-- without replaying the log.

-- When the message's text was last edited.
ALTER TABLE events ADD COLUMN edited_at INTEGER;
-- The seq of the event that deleted the message (its content is erased).
ALTER TABLE events ADD COLUMN deleted_seq INTEGER;
-- The message an edit, deletion or reaction is about; indexed only where set,
-- so that deleting a message finds its edits without scanning the log.
ALTER TABLE events ADD COLUMN target_id TEXT GENERATED ALWAYS AS (json_extract(body, '$.target')) VIRTUAL;
CREATE INDEX events_by_target ON events(target_id) WHERE target_id IS NOT NULL;

-- Reactions standing now; `seq` is the reaction_added event that made each.
CREATE TABLE reactions (
    conversation_id INTEGER NOT NULL,
    target_seq      INTEGER NOT NULL,
    emoji           TEXT    NOT NULL,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, target_seq, emoji, user_id),
    FOREIGN KEY (conversation_id, target_seq) REFERENCES events(conversation_id, seq) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
