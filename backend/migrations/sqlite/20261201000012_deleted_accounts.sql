-- A user can delete their account (`DELETE /api/v1/me`). The row stays as
-- "Deleted user", so the messages they sent still name a sender in others'
-- history; everything else of theirs goes (db/accounts.rs). Their username
-- stays reserved for 30 days, then is freed for someone else.
ALTER TABLE users ADD COLUMN deleted_at INTEGER;
