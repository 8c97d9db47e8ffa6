-- Each conversation's member count, kept by triggers: listings show it, and
-- presence is shared only through conversations small enough that telling
-- every member is cheap (see PRESENCE_MAX_MEMBERS).
ALTER TABLE conversations ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0;

UPDATE conversations
SET member_count = (SELECT COUNT(*) FROM members m WHERE m.conversation_id = conversations.id);

CREATE TRIGGER members_count_up AFTER INSERT ON members
BEGIN
    UPDATE conversations SET member_count = member_count + 1 WHERE id = NEW.conversation_id;
END;

CREATE TRIGGER members_count_down AFTER DELETE ON members
BEGIN
    UPDATE conversations SET member_count = member_count - 1 WHERE id = OLD.conversation_id;
END;
