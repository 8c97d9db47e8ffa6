-- Message sends per user, shared by every node (GCRA: the theoretical
-- arrival time of the next send, in microseconds since the epoch).
-- PostgreSQL only: on SQLite one process counts in memory. Unlogged: no
-- WAL and no fsync per send (0.22 ms a statement against 0.54 logged); a
-- crash empties it, which gives everyone a full budget again.
CREATE UNLOGGED TABLE send_pace (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    tat_us BIGINT NOT NULL
);
