-- Uploaded images, stored once per content, and who uploaded them.

CREATE TABLE media (
    -- SHA-256 (hex) of the stored bytes; also the file name on disk.
    id              TEXT    PRIMARY KEY,
    -- SHA-256 of the bytes as uploaded, for instant re-uploads.
    original_sha256 TEXT    NOT NULL UNIQUE,
    mime            TEXT    NOT NULL,
    width           INTEGER NOT NULL,
    height          INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    thumb_mime      TEXT    NOT NULL,
    thumb_width     INTEGER NOT NULL,
    thumb_height    INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE media_uploads (
    media_id    TEXT    NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    uploaded_at INTEGER NOT NULL,
    PRIMARY KEY (media_id, user_id)
) STRICT, WITHOUT ROWID;

-- Which events post which media, for access checks.
ALTER TABLE events ADD COLUMN media_id TEXT GENERATED ALWAYS AS (json_extract(body, '$.content.media_id')) VIRTUAL;
CREATE INDEX events_by_media ON events(media_id) WHERE media_id IS NOT NULL;
