//! The cache keeps only the work its user sees, by the cloud's own rule
//! ([`Viewer::sees`]): the feed brings the change that takes a conversation, call or task
//! away (a reassignment), and the cache drops the record with what hangs off it. A change
//! of the user's teams changes the viewer; the sync driver then prunes everything and,
//! when the user now sees more, reads the feed again from the start.

use std::collections::BTreeSet;

use rusqlite::params;
use upzento_domain::permissions::{Viewer, Work};
use upzento_domain::resources::{Call, Conversation, Task, Team, entity};
use upzento_domain::wire::Role;

use super::Cache;
use crate::ClientError;

/// What [`Cache::keep_in_scope`] dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub conversations: usize,
    pub calls: usize,
    pub tasks: usize,
}

impl Cache {
    /// Who the cache's user is as a viewer with `role`: their teams, from the cached team
    /// records, and a supervisor's people (their teams' members).
    pub fn viewer(&self, role: Role) -> Result<Viewer, ClientError> {
        let me = self.user_id()?;
        let mut teams = BTreeSet::new();
        let mut overseen = BTreeSet::new();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT data FROM record WHERE entity = ?1")?;
        let rows = stmt.query_map([entity::TEAM], |r| r.get::<_, String>(0))?;
        for data in rows {
            let team: Team = serde_json::from_str(&data?)?;
            if team.member_ids.contains(&me) {
                if role == Role::Supervisor {
                    overseen.extend(team.member_ids.iter().cloned());
                }
                teams.insert(team.id);
            }
        }
        Ok(Viewer {
            user_id: me,
            role,
            teams,
            overseen,
        })
    }

    /// Drops every conversation (with its messages, notes and read markers), call (with
    /// its notes) and task that `viewer` does not see, in one transaction.
    pub fn keep_in_scope(&mut self, viewer: &Viewer) -> Result<Pruned, ClientError> {
        if viewer.sees_everything() {
            return Ok(Pruned::default());
        }
        let tx = self.conn.transaction()?;
        let out_of_scope = |sql: &str, work: &dyn Fn(&str) -> Result<Work, ClientError>| {
            let mut stmt = tx.prepare(sql)?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            let mut gone = Vec::new();
            for row in rows {
                let (id, data) = row?;
                if !viewer.sees(&work(&data)?) {
                    gone.push(id);
                }
            }
            Ok::<_, ClientError>(gone)
        };
        let conversations = out_of_scope("SELECT id, data FROM conversation", &|d| {
            Ok(Work::of_conversation(
                &serde_json::from_str::<Conversation>(d)?,
            ))
        })?;
        let calls = out_of_scope("SELECT id, data FROM call", &|d| {
            Ok(Work::of_call(&serde_json::from_str::<Call>(d)?))
        })?;
        let tasks = out_of_scope(
            &format!(
                "SELECT id, data FROM record WHERE entity = '{}'",
                entity::TASK
            ),
            &|d| Ok(Work::of_task(&serde_json::from_str::<Task>(d)?)),
        )?;
        for id in &conversations {
            tx.execute("DELETE FROM message WHERE conversation_id = ?1", [id])?;
            tx.execute("DELETE FROM read_marker WHERE conversation_id = ?1", [id])?;
            tx.execute(
                "DELETE FROM record WHERE entity = ?1 AND json_extract(data, '$.conversationId') = ?2",
                params![entity::CONVERSATION_NOTE, id],
            )?;
            tx.execute("DELETE FROM conversation WHERE id = ?1", [id])?;
        }
        for id in &calls {
            tx.execute(
                "DELETE FROM record WHERE entity = ?1 AND json_extract(data, '$.callId') = ?2",
                params![entity::CALL_NOTE, id],
            )?;
            tx.execute("DELETE FROM call WHERE id = ?1", [id])?;
        }
        for id in &tasks {
            tx.execute(
                "DELETE FROM record WHERE entity = ?1 AND id = ?2",
                params![entity::TASK, id],
            )?;
        }
        tx.commit()?;
        Ok(Pruned {
            conversations: conversations.len(),
            calls: calls.len(),
            tasks: tasks.len(),
        })
    }

    /// The viewer the cache was last held to ([`Cache::save_viewer`]).
    pub fn saved_viewer(&self) -> Result<Option<Viewer>, ClientError> {
        let saved: Option<String> =
            self.conn
                .query_row("SELECT viewer FROM account WHERE id = 1", [], |r| r.get(0))?;
        // An unreadable one (an older app's) counts as none: the next change prunes again.
        Ok(saved.and_then(|s| serde_json::from_str(&s).ok()))
    }

    pub fn save_viewer(&mut self, viewer: &Viewer) -> Result<(), ClientError> {
        self.conn.execute(
            "UPDATE account SET viewer = ?1 WHERE id = 1",
            [serde_json::to_string(viewer)?],
        )?;
        Ok(())
    }

    /// Reads the feed again from the start (the user now sees more than the cache holds).
    pub fn restart_feed(&mut self) -> Result<(), ClientError> {
        self.conn
            .execute("UPDATE account SET cursor = 0 WHERE id = 1", [])?;
        Ok(())
    }
}

/// Whether `now` sees work that `before` did not (joined a team, oversees someone new).
pub fn widened(before: &Viewer, now: &Viewer) -> bool {
    now.role != before.role
        || !now.teams.is_subset(&before.teams)
        || !now.overseen.is_subset(&before.overseen)
}
