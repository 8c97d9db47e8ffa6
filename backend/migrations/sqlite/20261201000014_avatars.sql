-- A profile picture: one of the user's uploaded images. Seen by everyone
-- signed in (like the name beside it); the image stays while it is anyone's
-- avatar or in any message.
ALTER TABLE users ADD COLUMN avatar_media_id TEXT REFERENCES media(id) ON DELETE SET NULL;
-- Image requests ask whether an image is someone's avatar.
CREATE INDEX users_by_avatar ON users(avatar_media_id) WHERE avatar_media_id IS NOT NULL;
