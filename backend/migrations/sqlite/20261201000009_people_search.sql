-- People search by the start of any word of a display name ("love" finds
-- "Ada Lovelace"): a full-text index of display names, kept by triggers.
-- The unicode61 tokenizer splits names at spaces and punctuation, folds
-- case (Unicode, not only ASCII) and, with remove_diacritics 2, accents
-- ("zoe" finds "Zoë"); a quoted phrase with a trailing `*` matches word
-- prefixes from the index. Usernames keep their UNIQUE NOCASE index.

CREATE VIRTUAL TABLE users_by_name_words USING fts5(
    display_name,
    content = 'users',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO users_by_name_words (users_by_name_words) VALUES ('rebuild');

CREATE TRIGGER users_name_words_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_by_name_words (rowid, display_name) VALUES (new.id, new.display_name);
END;

CREATE TRIGGER users_name_words_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_by_name_words (users_by_name_words, rowid, display_name)
        VALUES ('delete', old.id, old.display_name);
END;

CREATE TRIGGER users_name_words_update AFTER UPDATE OF display_name ON users BEGIN
    INSERT INTO users_by_name_words (users_by_name_words, rowid, display_name)
        VALUES ('delete', old.id, old.display_name);
    INSERT INTO users_by_name_words (rowid, display_name) VALUES (new.id, new.display_name);
END;

-- It served prefix search of whole display names, which the index above replaces.
DROP INDEX users_by_display_name;
