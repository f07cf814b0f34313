//! Remediation off the request path: items a request could not work within its budget go to a
//! Cloudflare Queue (`REMEDIATION_QUEUE`), and this Worker's queue consumer works them through
//! the same code as the request ([`batch::remediate_one`]), each message with an upstream
//! budget of its own.
//!
//! Queues deliver at least once. A message names a batch position, not the work: the consumer
//! takes the item in D1 with one conditional update (`queued` -> `working`), so a duplicate
//! delivery finds nothing to take, and the one-issue/one-PR/one-follow-up claims make even a
//! repeated attempt harmless. A transient GitHub failure sends the item back with a growing
//! delay; the last attempt (or a delivery from the dead-letter queue) blocks it with the reason.

use super::answer::{Action, Answer};
use super::batch::{remediate_one, Attempt, ItemError};
use super::Remediator;
use crate::config::Config;
use crate::error::ApiError;
use crate::store::error_batches::{self, Take};
use crate::store::Db;
use crate::store::{database, internal};
use serde::{Deserialize, Serialize};
use worker::{console_error, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder};

pub const QUEUE_BINDING: &str = "REMEDIATION_QUEUE";

/// Attempts per item before a transient failure blocks it (the queue's own `max_retries`,
/// larger, only catches consumers that crash).
pub const MAX_ATTEMPTS: u32 = 5;

/// The longest wait between two attempts.
const MAX_DELAY_SECS: u32 = 15 * 60;

/// Queues accept at most 100 messages per send.
const SEND_CHUNK: usize = 100;

/// One queued item: its batch and position (the item itself is in D1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedItem {
    pub batch_id: String,
    pub index: usize,
}

pub fn status_url(batch_id: &str) -> String {
    format!(
        "/api/factory/errors/{}",
        crate::http::path_segment(batch_id)
    )
}

/// The delay before attempt `attempts + 1`: `base`, doubled per attempt, capped.
pub fn retry_delay(base_secs: u32, attempts: u32) -> u32 {
    let doubled = base_secs.saturating_mul(1u32 << attempts.saturating_sub(1).min(16));
    doubled.clamp(1, MAX_DELAY_SECS)
}

/// Sends the request's deferred items to the queue and answers them `queued`. Returns whether
/// anything was queued; without a queue binding (or if sending fails) they stay deferred.
pub async fn enqueue_deferred(
    env: &Env,
    db: &Db,
    batch_id: &str,
    answers: &mut [Answer],
    status_url: &str,
) -> bool {
    let positions: Vec<usize> = answers
        .iter()
        .filter(|a| a.action == Action::Deferred)
        .map(|a| a.index)
        .collect();
    if positions.is_empty() {
        return false;
    }
    // Sent before they are marked: a consumer takes `recorded` items too, so a mark that fails
    // loses nothing, while marking first could leave items queued that no message names.
    if send(env, batch_id, &positions).await.is_err() {
        return false;
    }
    let marked = match error_batches::queued_statement(db, batch_id, &positions) {
        Ok(statement) => statement.run().await.map(drop),
        Err(err) => Err(err),
    };
    if let Err(err) = marked {
        console_error!("marking items of error batch {batch_id} queued: {err}");
    }
    for answer in answers.iter_mut().filter(|a| a.action == Action::Deferred) {
        answer.action = Action::Queued {
            status_url: status_url.to_owned(),
        };
        answer.note = "queued: remediation continues off the request path; its outcome will be \
                       at status_url"
            .to_owned();
    }
    true
}

/// Sends one message per position; `QueueNotConfigured` without the binding.
pub async fn send(env: &Env, batch_id: &str, positions: &[usize]) -> Result<usize, ApiError> {
    let queue = env
        .queue(QUEUE_BINDING)
        .map_err(|_| ApiError::QueueNotConfigured)?;
    for chunk in positions.chunks(SEND_CHUNK) {
        let messages: Vec<QueuedItem> = chunk
            .iter()
            .map(|&index| QueuedItem {
                batch_id: batch_id.to_owned(),
                index,
            })
            .collect();
        if let Err(err) = queue.send_batch(messages).await {
            console_error!("queueing items of error batch {batch_id}: {err}");
            return Err(ApiError::Internal("queueing items"));
        }
    }
    Ok(positions.len())
}

/// The queue consumer: every message of the batch, one after another (GitHub writes never run
/// in parallel), each acknowledged or retried on its own.
pub async fn consume(batch: MessageBatch<QueuedItem>, env: &Env) -> worker::Result<()> {
    let db = database(env).map_err(|err| worker::Error::RustError(format!("{err:?}")))?;
    let config = Config::shared(env);
    // A delivery from the dead-letter queue is the last word: decide, whatever the failure.
    let dead_letter = batch.queue().ends_with("-dlq");
    for message in batch.messages()? {
        let item = message.body();
        match work(&db, &config, item, dead_letter).await {
            Ok(Outcome::Done | Outcome::NothingToDo) => message.ack(),
            Ok(Outcome::RetryAfter(secs)) => message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(secs)
                    .build(),
            ),
            Err(err) => {
                console_error!(
                    "remediating {} #{}: {err:?}; the queue retries it",
                    item.batch_id,
                    item.index
                );
                message.retry();
            }
        }
    }
    Ok(())
}

enum Outcome {
    Done,
    NothingToDo,
    RetryAfter(u32),
}

async fn work(
    db: &Db,
    config: &Config,
    queued: &QueuedItem,
    dead_letter: bool,
) -> Result<Outcome, ApiError> {
    let Take::Taken(taken) = error_batches::take(db, &queued.batch_id, queued.index).await? else {
        return Ok(Outcome::NothingToDo);
    };
    let attempt = if dead_letter || taken.attempts >= MAX_ATTEMPTS {
        Attempt::Final
    } else {
        Attempt::Retryable
    };
    // Each message gets a budget of its own.
    let remediator = config
        .github
        .as_ref()
        .map(|gh| Remediator::new(gh, config.model.as_ref()));
    match remediate_one(db, remediator.as_ref(), queued.index, &taken.item, attempt).await {
        Ok(answer) => {
            let value = serde_json::to_value(&answer)
                .map_err(|_| ApiError::Internal("serialising an answer"))?;
            error_batches::finish(db, taken.event_id, &value).await?;
            Ok(Outcome::Done)
        }
        Err(ItemError::Retry(why)) => {
            error_batches::requeue_statement(db, taken.event_id, &why)
                .map_err(internal("binding requeue"))?
                .run()
                .await
                .map_err(internal("requeueing an item"))?;
            Ok(Outcome::RetryAfter(retry_delay(
                config.remediation_retry_base_secs,
                taken.attempts,
            )))
        }
        Err(ItemError::Api(err)) => {
            // Not decided: give it back so the queue's retry can take it again.
            if let Ok(statement) =
                error_batches::requeue_statement(db, taken.event_id, "recording failed")
            {
                let _ = statement.run().await;
            }
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stop_growing() {
        assert_eq!(retry_delay(30, 1), 30);
        assert_eq!(retry_delay(30, 2), 60);
        assert_eq!(retry_delay(30, 3), 120);
        assert_eq!(retry_delay(30, 40), MAX_DELAY_SECS);
        assert_eq!(retry_delay(0, 1), 1);
        assert_eq!(retry_delay(1, 1), 1);
    }

    #[test]
    fn status_urls_escape_the_batch_id() {
        assert_eq!(status_url("EB-abc_1"), "/api/factory/errors/EB-abc_1");
        assert_eq!(status_url("a b/c"), "/api/factory/errors/a%20b%2Fc");
    }
}
