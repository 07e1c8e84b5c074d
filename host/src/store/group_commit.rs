//! Group commit for the inbox: notifications that arrive together are stored in one
//! database transaction, and each is acknowledged once that transaction has committed.
//!
//! Storing before answering 2xx is what makes the inbox durable, and a SQLite commit is
//! the expensive part of it (a WAL append, or an fsync with `durable_fsync`). One commit
//! per notification caps ingestion at the commits per second the disk allows; one commit
//! per *batch* does not, and costs nothing when the load is light: a lone notification
//! is committed at once, alone. Batches form by themselves: while one commits, the next
//! ones queue up.

use crate::store::inbox::{Enqueued, InboxStore, Notification};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most notifications in one transaction: bounds how long the first of a batch waits.
pub const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<Enqueued, String>>;

/// The writer's handle; cloning shares the one writer thread.
#[derive(Clone)]
pub struct InboxWriter {
    queue: mpsc::UnboundedSender<(Notification, Reply)>,
}

impl InboxWriter {
    /// Starts the writer thread for `store`. It stops when every handle is dropped.
    pub fn spawn(store: Arc<dyn InboxStore>) -> std::io::Result<InboxWriter> {
        let (queue, mut rx) = mpsc::unbounded_channel::<(Notification, Reply)>();
        std::thread::Builder::new()
            .name("inbox-writer".into())
            .spawn(move || {
                // A plain thread: the writer blocks on the database, which a tokio worker
                // must not do, and it would hold a blocking-pool thread forever anyway.
                while let Some(first) = rx.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    let notes: Vec<Notification> = batch.iter().map(|(n, _)| n.clone()).collect();
                    let now = chrono::Utc::now().timestamp_millis();
                    match store.enqueue_batch(&notes, now) {
                        Ok(results) => {
                            for ((_, reply), result) in batch.into_iter().zip(results) {
                                let _ = reply.send(Ok(result));
                            }
                        }
                        // Nothing of the batch was stored (one transaction): every
                        // sender hears so and answers 503, and Zendesk retries.
                        Err(e) => {
                            let why = format!("{e:#}");
                            for (_, reply) in batch {
                                let _ = reply.send(Err(why.clone()));
                            }
                        }
                    }
                }
            })?;
        Ok(InboxWriter { queue })
    }

    /// Stores `n` durably, in a transaction shared with whatever arrived at the same
    /// time; returns once it is committed.
    pub async fn enqueue(&self, n: Notification) -> Result<Enqueued, String> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((n, tx))
            .map_err(|_| "the inbox writer has stopped".to_string())?;
        rx.await
            .map_err(|_| "the inbox writer has stopped".to_string())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::inbox::SqliteInbox;

    async fn concurrent_notifications_are_all_stored_and_coalesced(store: Arc<dyn InboxStore>) {
        let writer = InboxWriter::spawn(store.clone()).unwrap();
        let tasks: Vec<_> = (0..400u64)
            .map(|i| {
                let w = writer.clone();
                tokio::spawn(async move {
                    w.enqueue(Notification {
                        environment: "prod".into(),
                        ticket_id: i % 200,
                        endpoint: "e".into(),
                    })
                    .await
                    .unwrap()
                })
            })
            .collect();
        let mut new = 0;
        for t in tasks {
            if t.await.unwrap() == Enqueued::New {
                new += 1;
            }
        }
        assert_eq!(
            new, 200,
            "each ticket is new exactly once, the rest coalesce"
        );
        let depth = tokio::task::spawn_blocking(move || store.depth().unwrap())
            .await
            .unwrap();
        assert_eq!(depth, 200);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_batches() {
        let dir = std::env::temp_dir().join(format!("group-commit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store: Arc<dyn InboxStore> =
            Arc::new(SqliteInbox::open(&dir.join("inbox.db"), false).unwrap());
        concurrent_notifications_are_all_stored_and_coalesced(store).await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_batches() {
        let db = tokio::task::spawn_blocking(|| {
            crate::store::postgres::scratch::database()
                .map(|url| crate::store::Database::postgres(&url, false, "gc", 2).unwrap())
        })
        .await
        .unwrap();
        if let Some(db) = db {
            concurrent_notifications_are_all_stored_and_coalesced(db.inbox).await;
        }
    }
}
