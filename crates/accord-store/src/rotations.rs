//! Group commit of refresh-token rotations on SQLite.
//!
//! SQLite lets one transaction write at a time, and each commit waits for the disk (the WAL's
//! fsync under `synchronous = FULL`). A rotation that took the writer for itself paid for a
//! commit, and for every statement's round trip to the connection's thread, while the others
//! queued behind it: refresh throughput was bounded by the writer, not by the CPU. Here a
//! rotation hands the presented token ([`Presented`]) to one task, which takes every rotation
//! waiting (up to [`MAX_BATCH`]) into one `BEGIN IMMEDIATE … COMMIT` and makes them all in three
//! statements ([`tokens::rotate_first_presentations`]: read the tokens with their grants, claim,
//! store the successors), one commit for all. Reading inside the write transaction costs nothing
//! here (one writer either way) and means the decision is taken under the lock it needs. A caller
//! hears back only after that commit, so an answered rotation is durable.
//!
//! A statement that fails rolls the whole batch back; its rotations are then made again one
//! transaction each, so one failing rotation fails only itself. PostgreSQL writes concurrently and
//! makes each rotation in one statement of its own (see [`crate::Store::rotate_refresh`]).

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Result, StoreError};
use crate::tokens::{self, Presented, Rotated};

/// The most rotations one commit makes: bounds how long a batch holds the writer.
pub const MAX_BATCH: usize = 64;

/// Rotations that may wait for the batch in progress; a caller beyond waits to hand its own in.
const WAITING: usize = 1024;

struct Job {
    presented: Presented,
    answer: oneshot::Sender<Result<Option<Rotated>>>,
}

/// The queue of rotations waiting for the writer, and its task.
pub(crate) struct Queue {
    jobs: mpsc::Sender<Job>,
}

impl Queue {
    /// Starts the task that commits the queued rotations on `writer` (the one connection SQLite's
    /// write transactions use). It ends when the queue is dropped.
    pub(crate) fn start(writer: AnyPool) -> Queue {
        let (jobs, waiting) = mpsc::channel(WAITING);
        tokio::spawn(commit_batches(writer, waiting));
        Queue { jobs }
    }

    /// Rotates `presented` in the next batch, if it is a first presentation its grant honours:
    /// what to answer, once that is committed; `None` if the batch did not rotate it.
    pub(crate) async fn submit(&self, presented: Presented) -> Result<Option<Rotated>> {
        let (answer, heard) = oneshot::channel();
        self.jobs
            .send(Job { presented, answer })
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?;
        heard
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))?
    }
}

async fn commit_batches(writer: AnyPool, mut waiting: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit_batch(&writer, &mut batch).await;
    }
}

/// Commits `batch` (emptying it) and answers each of its callers.
async fn commit_batch(writer: &AnyPool, batch: &mut Vec<Job>) {
    let presented: Vec<&Presented> = batch.iter().map(|job| &job.presented).collect();
    match rotate_all(writer, &presented).await {
        Ok(rotated) => {
            for (job, rotated) in batch.drain(..).zip(rotated) {
                // A caller that stopped waiting (its request ended) finds the rotation made: its
                // client may present the token again within the grace window and get the same
                // successor.
                let _ = job.answer.send(Ok(rotated));
            }
        }
        Err(error) if batch.len() == 1 => {
            let _ = batch.remove(0).answer.send(Err(error));
        }
        Err(error) => {
            tracing::warn!(%error, rotations = batch.len(), "a batch of refresh rotations failed; making each alone");
            for job in batch.drain(..) {
                let alone = rotate_all(writer, &[&job.presented]).await;
                let _ = job.answer.send(alone.map(|mut rotated| rotated.remove(0)));
            }
        }
    }
}

/// Makes the rotations of `presented` in one write transaction: what each answers.
async fn rotate_all(writer: &AnyPool, presented: &[&Presented]) -> Result<Vec<Option<Rotated>>> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let rotated = tokens::rotate_first_presentations(&mut tx, presented).await?;
    tx.commit().await?;
    Ok(rotated)
}

#[cfg(test)]
mod tests {
    use accord_core::clock::Timestamp;

    use super::*;
    use crate::tokens::Rotation;

    async fn sqlite_writer(dir: &std::path::Path) -> AnyPool {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", dir.join("batch.db").display());
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        for statement in [
            "CREATE TABLE users (id TEXT PRIMARY KEY, status TEXT NOT NULL)",
            "CREATE TABLE grants (id TEXT PRIMARY KEY, kind TEXT NOT NULL, app_id TEXT NOT NULL, account_id TEXT NOT NULL, \
             user_id TEXT, created_by TEXT, scopes TEXT NOT NULL, status TEXT NOT NULL, generation BIGINT NOT NULL, \
             created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, revoked_at BIGINT, revoked_reason TEXT)",
            "CREATE TABLE refresh_tokens (id TEXT PRIMARY KEY, token_hash BLOB NOT NULL UNIQUE, family_id TEXT NOT NULL, \
             parent_id TEXT, grant_id TEXT NOT NULL, generation BIGINT NOT NULL, client_id TEXT NOT NULL, scopes TEXT NOT NULL, \
             created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT, revoked_at BIGINT)",
            "INSERT INTO users VALUES ('u', 'active')",
            "INSERT INTO grants VALUES ('g', 'authorization', 'a', 'acc', 'u', 'u', '[]', 'active', 1, 0, 0, NULL, NULL)",
        ] {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool
    }

    /// Stores token `n` (unused, of generation 1) and returns its presentation by its client,
    /// whose successor's hash is `n + 100`.
    async fn token(writer: &AnyPool, n: u8) -> Presented {
        let row = tokens::RefreshRow {
            id: format!("t{n}"),
            token_hash: vec![n],
            family_id: "f".into(),
            parent_id: None,
            grant_id: "g".into(),
            generation: 1,
            client_id: "c".into(),
            scopes: r#"["user:read"]"#.into(),
            created_at: 0,
            expires_at: 60_000,
        };
        let mut conn = writer.acquire().await.unwrap();
        tokens::insert_row(&mut conn, &row).await.unwrap();
        Presented {
            token_hash: vec![n],
            client_id: "c".into(),
            now: Timestamp(5),
            rotation: Rotation {
                refresh_ttl_seconds: 60,
                grace_seconds: 0,
            },
            successor_hash: vec![n + 100],
        }
    }

    fn job(presented: Presented) -> (Job, oneshot::Receiver<Result<Option<Rotated>>>) {
        let (answer, heard) = oneshot::channel();
        (Job { presented, answer }, heard)
    }

    /// The successor stored for hash `n`: its parent and when it was issued.
    async fn successor(writer: &AnyPool, n: u8) -> Option<(Option<String>, i64)> {
        sqlx::query_as("SELECT parent_id, created_at FROM refresh_tokens WHERE token_hash = $1")
            .bind(vec![n])
            .fetch_optional(writer)
            .await
            .unwrap()
    }

    async fn used_at(writer: &AnyPool, id: &str) -> Option<i64> {
        sqlx::query_scalar("SELECT used_at FROM refresh_tokens WHERE id = $1")
            .bind(id)
            .fetch_one(writer)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn one_commit_rotates_each_token_once_and_a_failing_rotation_fails_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let writer = sqlite_writer(dir.path()).await;
        let first = token(&writer, 1).await;
        // The same token presented twice in one batch: only the first presentation rotates it.
        let again = first.clone();
        let second = token(&writer, 2).await;
        // A successor whose hash is another token's: its insert fails, which rolls the batch back.
        let mut clashing = token(&writer, 3).await;
        clashing.successor_hash = vec![2];
        // Presented by another client, or unknown: not rotated here.
        let mut foreign = token(&writer, 4).await;
        foreign.client_id = "other".into();
        let mut unknown = first.clone();
        unknown.token_hash = vec![99];

        let (jobs, heard): (Vec<_>, Vec<_>) = [first, again, second, clashing, foreign, unknown]
            .into_iter()
            .map(job)
            .unzip();
        let mut batch = jobs;
        commit_batch(&writer, &mut batch).await;
        assert!(batch.is_empty());
        let mut answers = Vec::new();
        for heard in heard {
            answers.push(heard.await.unwrap().map_err(|e| e.to_string()));
        }
        let rotated = answers[0]
            .as_ref()
            .unwrap()
            .as_ref()
            .expect("the first rotates");
        assert_eq!((rotated.grant.id.as_str(), rotated.generation), ("g", 1));
        assert_eq!(rotated.scopes.len(), 1);
        assert!(
            answers[1].as_ref().unwrap().is_none(),
            "a second presentation in the batch"
        );
        assert!(answers[2].as_ref().unwrap().is_some());
        assert!(
            answers[3]
                .as_ref()
                .is_err_and(|e| e.contains("UNIQUE") || e.contains("unique")),
            "{:?}",
            answers[3].as_ref().map(Option::is_some)
        );
        assert!(
            answers[4].as_ref().unwrap().is_none(),
            "another client's token"
        );
        assert!(answers[5].as_ref().unwrap().is_none(), "an unknown token");
        assert_eq!(successor(&writer, 101).await, Some((Some("t1".into()), 5)));
        assert_eq!(successor(&writer, 102).await, Some((Some("t2".into()), 5)));
        assert_eq!(
            (used_at(&writer, "t1").await, used_at(&writer, "t2").await),
            (Some(5), Some(5))
        );
        // The failed and the refused rotations left their tokens unclaimed.
        assert_eq!(
            (used_at(&writer, "t3").await, used_at(&writer, "t4").await),
            (None, None)
        );
        assert_eq!(successor(&writer, 104).await, None);
    }

    #[tokio::test]
    async fn the_queue_answers_every_caller_and_a_changed_grant_rotates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let writer = sqlite_writer(dir.path()).await;
        let mut presented = Vec::new();
        for n in 1..=20 {
            presented.push(token(&writer, n).await);
        }
        let stale = token(&writer, 50).await;
        // The grant moved on to generation 2 (a re-authorization): token 50's generation is over.
        sqlx::query("UPDATE refresh_tokens SET generation = 0 WHERE id = 't50'")
            .execute(&writer)
            .await
            .unwrap();
        let queue = std::sync::Arc::new(Queue::start(writer.clone()));
        let calls: Vec<_> = presented
            .into_iter()
            .chain([stale])
            .map(|presented| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.submit(presented).await.unwrap().is_some() })
            })
            .collect();
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.unwrap());
        }
        assert_eq!(answers[..20], [true; 20]);
        assert!(
            !answers[20],
            "a token of an earlier generation of the grant"
        );
        assert_eq!(successor(&writer, 150).await, None);
    }
}
