//! The host's guards, enforced whatever the plugin does: never answer the AI's own
//! comments, never answer the same customer message twice, never talk over a human agent.
//! Judged on the conversation already read, so they cost no extra Zendesk call.

use super::{read_failed, End, Job};
use crate::outcome::Outcome;
use crate::zendesk::{Comment, ReadCache};

/// Reads the conversation (with its authors) and applies [`host_guard`]; then reads the
/// ticket, whose `updated_at` becomes the safe-update stamp. `Err` ends the attempt,
/// skipped, or with a read's failure.
///
/// The stamp must cover exactly the conversation the plugin sees. A customer comment
/// that lands between the two reads would be inside the stamp but missing from what the
/// plugin read, and the next notification would then be skipped as already answered: a
/// lost message. So the ticket's comment count is checked against the comments read, and
/// on a difference the conversation is read again (and guarded again). A comment that
/// lands after the ticket read changes `updated_at`, so the commit meets a conflict and
/// the plugin runs again on fresh data. The ticket is read before the plugin starts, so
/// waiting for it (or for the quota) never counts against the plugin's deadline.
pub(crate) async fn check(job: &Job<'_>, reads: &mut ReadCache) -> Result<(), End> {
    guarded_comments(job, reads).await?;
    let count = match reads.ticket(&job.env.client, job.ticket_id).await {
        Ok(t) => t.comment_count,
        Err(e) => return Err(read_failed(e, job)),
    };
    let read = reads.comments_if_read().map_or(0, |c| c.len() as u64);
    if count != Some(read) {
        tracing::info!(brand = %job.brand.brand.name, ticket = job.ticket_id, comments_read = read,
            comment_count = ?count, "the conversation changed while it was read; reading it again");
        reads.forget_comments();
        guarded_comments(job, reads).await?;
    }
    Ok(())
}

async fn guarded_comments(job: &Job<'_>, reads: &mut ReadCache) -> Result<(), End> {
    if let Err(e) = reads.comments(&job.env.client, job.ticket_id).await {
        return Err(read_failed(e, job));
    }
    match host_guard(reads, job.env.seat.id) {
        Some(reason) => {
            tracing::info!(brand = %job.brand.brand.name, ticket = job.ticket_id, "{reason}; skipped");
            Err(End::Finished(Outcome::Skipped, reason))
        }
        None => Ok(()),
    }
}

/// The reason the host skips a run whatever the plugin would do, judged on the comments
/// (and their sideloaded authors) already read: [`loop_guard`], then [`human_guard`].
pub fn host_guard(reads: &ReadCache, seat_id: u64) -> Option<String> {
    let comments = reads.comments_if_read()?;
    loop_guard(comments, seat_id).or_else(|| {
        human_guard(comments, seat_id, |id| {
            reads.user_if_read(id).map(|u| u.role.clone())
        })
    })
}

/// The reason to skip a run because a human agent has taken the conversation over: the
/// newest public comment is by an agent or admin other than the seat, answering in a
/// conversation someone else started. The ticket is theirs; the AI does not talk over
/// them. (A ticket an agent opened publicly on a customer's behalf, whose only public
/// comment is the agent's, is still the AI's to handle.) `role_of` gives an author's
/// role when known; an author of unknown role counts as a customer.
pub fn human_guard(
    comments: &[Comment],
    seat_id: u64,
    role_of: impl Fn(u64) -> Option<String>,
) -> Option<String> {
    let public: Vec<&Comment> = comments.iter().filter(|c| c.public).collect();
    let (last, earlier) = public.split_last()?;
    if last.author_id == seat_id || earlier.is_empty() {
        return None;
    }
    let role = role_of(last.author_id)?;
    (role == "agent" || role == "admin").then(|| {
        format!(
            "a human agent (user {}) wrote the newest public comment (comment {}); the ticket is theirs",
            last.author_id, last.id
        )
    })
}

/// The reason to skip a run, if the AI already had the last word: the newest public
/// comment is the seat's, or the seat wrote (a reply or a listening-mode draft) after
/// the newest customer message.
pub fn loop_guard(comments: &[Comment], seat_id: u64) -> Option<String> {
    let last_public = comments.iter().rev().find(|c| c.public)?;
    if last_public.author_id == seat_id {
        return Some("the newest public comment was written by the AI seat".into());
    }
    let answered = comments
        .iter()
        .rev()
        .take_while(|c| c.id != last_public.id)
        .any(|c| c.author_id == seat_id);
    answered.then(|| {
        format!(
            "the AI already responded to the newest customer message (comment {})",
            last_public.id
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(id: u64, author_id: u64, public: bool) -> Comment {
        Comment {
            id,
            author_id,
            body: Some("text".into()),
            plain_body: None,
            public,
            created_at: None,
        }
    }

    const SEAT: u64 = 1;
    const CUSTOMER: u64 = 7;
    const AGENT: u64 = 9;

    fn role(id: u64) -> Option<String> {
        Some(if id == AGENT { "agent" } else { "end-user" }.to_string())
    }

    #[test]
    fn human_guard_skips_only_when_an_agent_joined_the_conversation() {
        let agent_replied = [said(1, CUSTOMER, true), said(2, AGENT, true)];
        assert!(human_guard(&agent_replied, SEAT, role)
            .is_some_and(|r| r.contains("human agent (user 9)")));
        // Opened by an agent for a customer: the agent's comment is the only public one.
        assert!(human_guard(&[said(1, AGENT, true)], SEAT, role).is_none());
        // An agent's internal note is not a reply to the customer.
        let noted = [said(1, CUSTOMER, true), said(2, AGENT, false)];
        assert!(human_guard(&noted, SEAT, role).is_none());
        // The customer spoke last.
        let answered = [
            said(1, CUSTOMER, true),
            said(2, AGENT, true),
            said(3, CUSTOMER, true),
        ];
        assert!(human_guard(&answered, SEAT, role).is_none());
        // Unknown author roles count as customers.
        assert!(human_guard(&agent_replied, SEAT, |_| None).is_none());
    }
}
