-- People search by any word of a username too ("lovelace" finds
-- "ada_lovelace"): the name-words index gains the username, which the
-- unicode61 tokenizer splits at '_', '.' and '-'. Chinese, Japanese and
-- Korean names are one token to it; those are found by substring instead
-- (db/users.rs).

DROP TRIGGER users_name_words_insert;
DROP TRIGGER users_name_words_delete;
DROP TRIGGER users_name_words_update;
DROP TABLE users_by_name_words;

CREATE VIRTUAL TABLE users_by_name_words USING fts5(
    display_name,
    username,
    content = 'users',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO users_by_name_words (users_by_name_words) VALUES ('rebuild');

CREATE TRIGGER users_name_words_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_by_name_words (rowid, display_name, username)
        VALUES (new.id, new.display_name, new.username);
END;

CREATE TRIGGER users_name_words_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_by_name_words (users_by_name_words, rowid, display_name, username)
        VALUES ('delete', old.id, old.display_name, old.username);
END;

CREATE TRIGGER users_name_words_update AFTER UPDATE OF display_name, username ON users BEGIN
    INSERT INTO users_by_name_words (users_by_name_words, rowid, display_name, username)
        VALUES ('delete', old.id, old.display_name, old.username);
    INSERT INTO users_by_name_words (rowid, display_name, username)
        VALUES (new.id, new.display_name, new.username);
END;
