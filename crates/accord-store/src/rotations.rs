//! Group commit of refresh-token rotations on SQLite.
//!
//! SQLite lets one transaction write at a time, and each commit waits for the disk (the WAL's
//! fsync under `synchronous = FULL`). A rotation that took the writer for itself paid for a
//! commit, and for every statement's round trip to the connection's thread, while the others
//! queued behind it: refresh throughput was bounded by the writer, not by the CPU. Here a rotation
//! hands its writes ([`Claim`]) to one task, which takes every rotation waiting (up to
//! [`MAX_BATCH`]) into one `BEGIN IMMEDIATE … COMMIT`: each claim runs as it would alone
//! ([`tokens::claim_and_store`]), one commit covers them all. A caller hears back only after that
//! commit, so an answered rotation is durable.
//!
//! A statement that fails rolls the whole batch back; its rotations are then made again one
//! transaction each, so one failing rotation fails only itself. PostgreSQL writes concurrently and
//! makes each rotation in one statement of its own (see [`crate::Store::rotate_refresh`]).

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Result, StoreError};
use crate::tokens::{self, Claim};

/// The most rotations one commit makes: bounds how long a batch holds the writer.
pub const MAX_BATCH: usize = 64;

/// Rotations that may wait for the batch in progress; a caller beyond waits to hand its own in.
const WAITING: usize = 1024;

struct Job {
    claim: Claim,
    answer: oneshot::Sender<Result<bool>>,
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

    /// Makes `claim` in the next batch: whether the token was claimed (and its successor stored),
    /// once that is committed.
    pub(crate) async fn submit(&self, claim: Claim) -> Result<bool> {
        let (answer, heard) = oneshot::channel();
        self.jobs
            .send(Job { claim, answer })
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
    let claims: Vec<&Claim> = batch.iter().map(|job| &job.claim).collect();
    match claim_all(writer, &claims).await {
        Ok(claimed) => {
            for (job, claimed) in batch.drain(..).zip(claimed) {
                // A caller that stopped waiting (its request ended) finds the rotation made: its
                // client may present the token again within the grace window and get the same
                // successor.
                let _ = job.answer.send(Ok(claimed));
            }
        }
        Err(error) if batch.len() == 1 => {
            let _ = batch.remove(0).answer.send(Err(error));
        }
        Err(error) => {
            tracing::warn!(%error, rotations = batch.len(), "a batch of refresh rotations failed; making each alone");
            for job in batch.drain(..) {
                let alone = claim_all(writer, &[&job.claim]).await;
                let _ = job.answer.send(alone.map(|claimed| claimed[0]));
            }
        }
    }
}

/// Makes `claims` in one write transaction: whether each claimed its token.
async fn claim_all(writer: &AnyPool, claims: &[&Claim]) -> Result<Vec<bool>> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let mut claimed = Vec::with_capacity(claims.len());
    for claim in claims {
        claimed.push(tokens::claim_and_store(&mut tx, claim).await?);
    }
    tx.commit().await?;
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite_writer(dir: &std::path::Path) -> AnyPool {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", dir.join("batch.db").display());
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        for statement in [
            "CREATE TABLE grants (id TEXT PRIMARY KEY, generation BIGINT NOT NULL, status TEXT NOT NULL)",
            "CREATE TABLE refresh_tokens (id TEXT PRIMARY KEY, token_hash BLOB NOT NULL UNIQUE, family_id TEXT NOT NULL, \
             parent_id TEXT, grant_id TEXT NOT NULL, generation BIGINT NOT NULL, client_id TEXT NOT NULL, scopes TEXT NOT NULL, \
             created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT, revoked_at BIGINT)",
            "INSERT INTO grants VALUES ('g', 1, 'active')",
        ] {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool
    }

    /// Stores token `n` (unused) and returns the claim that rotates it to `n + 100`.
    async fn token(writer: &AnyPool, n: u8) -> Claim {
        let row = |n: u8, parent: Option<String>| tokens::RefreshRow {
            id: format!("t{n}"),
            token_hash: vec![n],
            family_id: "f".into(),
            parent_id: parent,
            grant_id: "g".into(),
            generation: 1,
            client_id: "c".into(),
            scopes: "[]".into(),
            created_at: 0,
            expires_at: 1,
        };
        let mut conn = writer.acquire().await.unwrap();
        tokens::insert_row(&mut conn, &row(n, None)).await.unwrap();
        Claim {
            at: 5,
            token_id: format!("t{n}"),
            grant_id: "g".into(),
            generation: 1,
            grant_status: "active",
            successor: row(n + 100, Some(format!("t{n}"))),
        }
    }

    fn job(claim: Claim) -> (Job, oneshot::Receiver<Result<bool>>) {
        let (answer, heard) = oneshot::channel();
        (Job { claim, answer }, heard)
    }

    async fn stored(writer: &AnyPool, id: &str) -> bool {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM refresh_tokens WHERE id = $1")
            .bind(id)
            .fetch_one(writer)
            .await
            .unwrap()
            == 1
    }

    #[tokio::test]
    async fn one_commit_claims_each_token_once_and_a_failing_claim_fails_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let writer = sqlite_writer(dir.path()).await;
        let first = token(&writer, 1).await;
        let second = token(&writer, 2).await;
        // The same token presented twice in one batch: the second claim finds it used.
        let again = first.clone();
        // A successor whose id is taken: its insert fails, which rolls the batch back.
        let mut clashing = token(&writer, 3).await;
        clashing.successor.id = "t2".into();

        let (jobs, heard): (Vec<_>, Vec<_>) = [first, again, second, clashing]
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
        assert_eq!(answers[0], Ok(true));
        assert_eq!(answers[1], Ok(false));
        assert_eq!(answers[2], Ok(true));
        assert!(
            answers[3]
                .as_ref()
                .is_err_and(|e| e.contains("UNIQUE") || e.contains("unique")),
            "{:?}",
            answers[3]
        );
        assert!(stored(&writer, "t101").await && stored(&writer, "t102").await);
        // The failed rotation left its token unclaimed: presenting it again can still rotate it.
        let unclaimed: Option<i64> =
            sqlx::query_scalar("SELECT used_at FROM refresh_tokens WHERE id = 't3'")
                .fetch_one(&writer)
                .await
                .unwrap();
        assert_eq!(unclaimed, None);
    }

    #[tokio::test]
    async fn the_queue_answers_every_caller_and_a_changed_grant_claims_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let writer = sqlite_writer(dir.path()).await;
        let mut claims = Vec::new();
        for n in 1..=20 {
            claims.push(token(&writer, n).await);
        }
        let mut stale = token(&writer, 50).await;
        stale.generation = 0;
        let queue = std::sync::Arc::new(Queue::start(writer.clone()));
        let calls: Vec<_> = claims
            .into_iter()
            .chain([stale])
            .map(|claim| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.submit(claim).await.unwrap() })
            })
            .collect();
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.unwrap());
        }
        assert_eq!(answers[..20], [true; 20]);
        assert!(!answers[20], "a claim for another generation of the grant");
        assert!(!stored(&writer, "t150").await);
    }
}
