-- An operator can disable an account (`natter-server admin users disable`):
-- it keeps its history but cannot sign in until enabled again.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
