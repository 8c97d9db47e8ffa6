//! The send rate every node of a deployment shares (PostgreSQL only; see
//! `ratelimit::SendPace`).

use natter_common::ids::UserId;
use sqlx::PgPool;

/// Takes one send from `user`'s budget if it allows one (GCRA: a send
/// every `interval_us`, up to `tolerance_us` ahead of the clock); else how
/// many microseconds until it does. One statement, timed by the database's
/// clock, so nodes whose clocks differ still agree.
pub async fn take(pool: &PgPool, user: UserId, interval_us: i64, tolerance_us: i64) -> sqlx::Result<Result<(), i64>> {
    // `taken` is empty when the budget was spent (ON CONFLICT judges the
    // newest row, waiting for another node's update of it); `before` reads
    // the row as of the statement's start, so after a race it can be a
    // little old: the wait it gives is then short, never wrong the other
    // way. A first send racing another's insert goes through uncounted.
    let (now, taken, before): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
        "WITH clock AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now),
         taken AS (
             INSERT INTO send_pace AS p (user_id, tat_us)
             SELECT $1, now + $2 FROM clock
             ON CONFLICT (user_id) DO UPDATE
                 SET tat_us = GREATEST(p.tat_us, (SELECT now FROM clock)) + $2
                 WHERE GREATEST(p.tat_us, (SELECT now FROM clock)) - (SELECT now FROM clock) <= $3
             RETURNING tat_us
         )
         SELECT (SELECT now FROM clock), (SELECT tat_us FROM taken),
                (SELECT tat_us FROM send_pace WHERE user_id = $1)",
    )
    .bind(user.0)
    .bind(interval_us)
    .bind(tolerance_us)
    .fetch_one(pool)
    .await?;
    Ok(match (taken, before) {
        (Some(_), _) | (None, None) => Ok(()),
        (None, Some(tat)) => Err((tat - tolerance_us - now).max(1)),
    })
}
