//! One pass over the selected mailbox: search what is waiting, fetch it in batches without
//! marking anything, hand each message over, then move (or mark) what was handled.

use std::collections::HashSet;

use crate::connection::Connection;
use crate::error::MailboxError;
use crate::handler::{
    Content, Fetched, GROUP_BYTES, GROUP_MESSAGES, Handled, Handler, PollReport, SPOOL_PIECE_BYTES,
    Spool, TOO_LARGE_HEADER_BYTES,
};
use crate::settings::{AfterHandling, ImapSettings};

/// What is waiting in the mailbox, as an IMAP search.
pub(crate) fn waiting_query(after_handling: &AfterHandling) -> &'static str {
    match after_handling {
        // Handled messages leave the mailbox (or carry \Deleted until the expunge): whatever
        // is still there, read by a person or not, is waiting.
        AfterHandling::MoveTo(_) | AfterHandling::Delete => "UNDELETED",
        AfterHandling::MarkSeen => "UNSEEN UNDELETED",
    }
}

/// Polls the selected mailbox once. UIDs in `skip` (answered Retry earlier in this round) are
/// left alone; `stop` is asked between batches.
pub(crate) async fn poll_selected<H: Handler>(
    connection: &mut Connection,
    settings: &ImapSettings,
    handler: &mut H,
    skip: &HashSet<u32>,
    stop: &mut (impl FnMut() -> bool + Send),
) -> Result<PollReport, MailboxError> {
    let mut report = PollReport::default();
    let waiting: Vec<u32> = connection
        .search(waiting_query(&settings.after_handling))
        .await?
        .into_iter()
        .filter(|uid| !skip.contains(uid))
        .collect();
    report.found = waiting.len();
    for batch in waiting.chunks(settings.batch) {
        if stop() {
            break;
        }
        poll_batch(connection, settings, handler, batch, &mut report).await?;
    }
    connection.drain_unsolicited();
    if report.found > 0 {
        tracing::info!(
            server = %connection.peer.server,
            mailbox = %settings.mailbox,
            found = report.found,
            stored = report.stored,
            refused = report.refused,
            retried = report.retried,
            too_large = report.too_large,
            moved = report.moved,
            "inbound mailbox polled"
        );
    }
    Ok(report)
}

async fn poll_batch<H: Handler>(
    connection: &mut Connection,
    settings: &ImapSettings,
    handler: &mut H,
    batch: &[u32],
    report: &mut PollReport,
) -> Result<(), MailboxError> {
    // Sizes first, so that an oversized message is never fetched whole.
    let mut sizes: Vec<(u32, u64)> = Vec::with_capacity(batch.len());
    {
        let mut answers = connection
            .fetch(&uid_set(batch), "(UID RFC822.SIZE)")
            .await?;
        while let Some(answer) = answers.next().await? {
            if let (Some(uid), Some(size)) = (answer.uid, answer.size) {
                sizes.push((uid, u64::from(size)));
            }
        }
    }
    sizes.sort_unstable();
    sizes.dedup_by_key(|(uid, _)| *uid);
    let size_of = |uid: u32| {
        sizes
            .binary_search_by_key(&uid, |(u, _)| *u)
            .ok()
            .map(|at| sizes[at].1)
    };
    let mut small: Vec<u32> = Vec::with_capacity(sizes.len());
    let mut spooled: Vec<(u32, u64)> = Vec::new();
    let mut large: Vec<u32> = Vec::new();
    for &(uid, size) in &sizes {
        if size > settings.max_message_bytes {
            large.push(uid);
        } else if size > settings.spool_above {
            spooled.push((uid, size));
        } else {
            small.push(uid);
        }
    }

    let mut done: Vec<u32> = Vec::with_capacity(batch.len());
    let mut tally = |uid: u32, answer: Handled, report: &mut PollReport| match answer {
        Handled::Stored => {
            report.stored += 1;
            done.push(uid);
        }
        Handled::Refused => {
            report.refused += 1;
            done.push(uid);
        }
        Handled::Retry => {
            report.retried += 1;
            report.retry_uids.push(uid);
        }
    };

    if !small.is_empty() {
        let mut answers = connection
            .fetch(&uid_set(&small), "(UID BODY.PEEK[])")
            .await?;
        // Handed over in groups (a few messages, a few MiB), so a handler can take them side
        // by side; memory holds one group, not the batch.
        let mut group: Vec<Fetched> = Vec::new();
        let mut group_bytes = 0;
        loop {
            let next = answers.next().await?;
            let end = next.is_none();
            if let Some(answer) = next {
                // Unsolicited FETCH answers (another client changing flags) carry no body.
                let (Some(uid), Some(body)) = (answer.uid, answer.body()) else {
                    continue;
                };
                let size = size_of(uid).unwrap_or(body.len() as u64);
                group.push(Fetched {
                    uid,
                    size,
                    content: Content::Message(body.to_vec()),
                });
                group_bytes += size;
                tracing::debug!(uid, size, "handing over an inbound message");
            }
            let full = group.len() >= GROUP_MESSAGES || group_bytes >= GROUP_BYTES;
            if !group.is_empty() && (full || end) {
                let uids: Vec<u32> = group.iter().map(|m| m.uid).collect();
                let handled = handler.handle_all(std::mem::take(&mut group)).await;
                group_bytes = 0;
                for (uid, answer) in uids.into_iter().zip(handled) {
                    tally(uid, answer, report);
                }
            }
            if end {
                break;
            }
        }
    }

    for &(uid, size) in &spooled {
        let Some(spool) = spool(connection, settings, uid, size).await? else {
            continue;
        };
        tracing::debug!(uid, size, "handing over a spooled inbound message");
        let answer = handler
            .handle(Fetched {
                uid,
                size,
                content: Content::Spooled(spool),
            })
            .await;
        tally(uid, answer, report);
    }

    if !large.is_empty() {
        let mut answers = connection
            .fetch(
                &uid_set(&large),
                &format!("(UID BODY.PEEK[HEADER]<0.{TOO_LARGE_HEADER_BYTES}>)"),
            )
            .await?;
        while let Some(answer) = answers.next().await? {
            let (Some(uid), Some(header)) = (answer.uid, answer.header()) else {
                continue;
            };
            let size = size_of(uid).unwrap_or_default();
            let message = Fetched {
                uid,
                size,
                content: Content::TooLarge {
                    header: header.to_vec(),
                },
            };
            drop(answer);
            tracing::info!(
                uid,
                size,
                limit = settings.max_message_bytes,
                "inbound message too large: handing over its header only"
            );
            report.too_large += 1;
            let answer = handler.handle(message).await;
            tally(uid, answer, report);
        }
    }

    if !done.is_empty() {
        done.sort_unstable();
        let set = uid_set(&done);
        match &settings.after_handling {
            AfterHandling::MoveTo(target) => {
                connection.add_flags(&set, "\\Seen").await?;
                connection.move_to(&set, target).await?;
            }
            AfterHandling::MarkSeen => connection.add_flags(&set, "\\Seen").await?,
            AfterHandling::Delete => {
                connection.add_flags(&set, "\\Seen \\Deleted").await?;
                connection.expunge(&set).await?;
            }
        }
        report.moved += done.len();
        connection.drain_unsolicited();
    }
    Ok(())
}

/// Fetches one message in pieces of [`SPOOL_PIECE_BYTES`] into an unnamed temporary file, so
/// that it is never whole in memory. `None` when the message is gone (expunged meanwhile).
async fn spool(
    connection: &mut Connection,
    settings: &ImapSettings,
    uid: u32,
    size: u64,
) -> Result<Option<Spool>, MailboxError> {
    use std::io::Write;
    let dir = settings
        .spool_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let spool_error = |source: std::io::Error| MailboxError::Spool {
        dir: dir.clone(),
        source,
    };
    let mut file = tempfile::tempfile_in(&dir).map_err(spool_error)?;
    let mut offset: u64 = 0;
    loop {
        let mut piece = None;
        {
            let mut answers = connection
                .fetch(
                    &uid.to_string(),
                    &format!("(UID BODY.PEEK[]<{offset}.{SPOOL_PIECE_BYTES}>)"),
                )
                .await?;
            while let Some(answer) = answers.next().await? {
                if answer.uid == Some(uid)
                    && let Some(body) = answer.body()
                {
                    file.write_all(body).map_err(spool_error)?;
                    piece = Some(body.len() as u64);
                }
            }
        }
        match piece {
            None if offset == 0 => return Ok(None),
            None => break,
            Some(got) => {
                offset += got;
                // The last piece is the short one (the server counts `size` the same way).
                if got < SPOOL_PIECE_BYTES {
                    break;
                }
            }
        }
    }
    file.flush().map_err(spool_error)?;
    if offset != size {
        tracing::debug!(
            uid,
            size,
            spooled = offset,
            "the server's size and the bytes fetched differ"
        );
    }
    Ok(Some(Spool::new(file, offset)))
}

/// `1:3,7,9:10` for sorted UIDs.
pub(crate) fn uid_set(uids: &[u32]) -> String {
    let mut set = String::new();
    let mut at = 0;
    while at < uids.len() {
        let start = uids[at];
        let mut end = start;
        while at + 1 < uids.len() && uids[at + 1] == end.saturating_add(1) {
            at += 1;
            end = uids[at];
        }
        if !set.is_empty() {
            set.push(',');
        }
        if start == end {
            set.push_str(&start.to_string());
        } else {
            set.push_str(&format!("{start}:{end}"));
        }
        at += 1;
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compressed_into_ranges() {
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[4]), "4");
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[1, 3, 5]), "1,3,5");
        assert_eq!(uid_set(&[u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
    }

    #[test]
    fn what_counts_as_waiting_follows_what_becomes_of_handled_messages() {
        assert_eq!(
            waiting_query(&AfterHandling::MoveTo("Processed".into())),
            "UNDELETED"
        );
        assert_eq!(waiting_query(&AfterHandling::Delete), "UNDELETED");
        assert_eq!(waiting_query(&AfterHandling::MarkSeen), "UNSEEN UNDELETED");
    }
}
