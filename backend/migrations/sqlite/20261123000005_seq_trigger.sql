-- An event's insert advances its conversation's last_seq in the same
-- statement, so appending a message is one round trip to SQLite: the insert
-- reads last_seq + 1 and this trigger stores it back.
CREATE TRIGGER events_advance_last_seq AFTER INSERT ON events
BEGIN
    UPDATE conversations SET last_seq = NEW.seq WHERE id = NEW.conversation_id;
END;
