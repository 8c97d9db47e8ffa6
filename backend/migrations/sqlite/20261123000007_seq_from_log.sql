-- A conversation's newest seq is now read from its log (the last entry of
-- the events primary key, a page the next insert touches anyway) instead of
-- being stored on the conversation row: appending a message dirties one
-- page fewer, and the WAL and its checkpoints shrink with it.
DROP TRIGGER events_advance_last_seq;
ALTER TABLE conversations DROP COLUMN last_seq;
