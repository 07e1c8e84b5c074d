//! The `actions` import: a reply or a note, assignment, tags and status, staged in
//! [`staging`] until the run ends and committed in one update.

pub mod staging;

use super::context::RunContext;
use super::grants;
use crate::bindings::zendesk_gateway::plugin::actions;
use crate::bindings::PluginError;
use staging::{AssigneeChange, StagedStatus};

impl actions::Host for RunContext {
    async fn reply(&mut self, body: String) -> wasmtime::Result<Result<(), PluginError>> {
        let limits = self.limits().clone();
        match self.staged.reply(body, &limits) {
            Ok(()) => Ok(Ok(())),
            Err(r) => self.refuse("reply", r),
        }
    }

    async fn note(&mut self, body: String) -> wasmtime::Result<Result<(), PluginError>> {
        let limits = self.limits().clone();
        match self.staged.note(body, &limits) {
            Ok(()) => Ok(Ok(())),
            Err(r) => self.refuse("note", r),
        }
    }

    async fn assign(&mut self, to: actions::Assignee) -> wasmtime::Result<Result<(), PluginError>> {
        let target = match to {
            actions::Assignee::AiSeat => grants::AssignTarget::Seat,
            actions::Assignee::Agent(id) => grants::AssignTarget::Agent(id),
            actions::Assignee::Group(id) => grants::AssignTarget::Group(id),
        };
        match grants::assignment(&self.brand, target) {
            Ok(allowed) => {
                self.staged.assignee = Some(match allowed {
                    grants::AssignTarget::Seat => AssigneeChange::Seat,
                    grants::AssignTarget::Agent(id) => AssigneeChange::Agent(id),
                    grants::AssignTarget::Group(id) => AssigneeChange::Group(id),
                });
                Ok(Ok(()))
            }
            Err(r) => self.refuse("assign", r),
        }
    }

    async fn unassign(&mut self) -> wasmtime::Result<Result<(), PluginError>> {
        self.staged.assignee = Some(AssigneeChange::Unassign);
        Ok(Ok(()))
    }

    async fn add_tags(&mut self, tags: Vec<String>) -> wasmtime::Result<Result<(), PluginError>> {
        let limits = self.limits().clone();
        match self.staged.add_tags(tags, &limits) {
            Ok(()) => Ok(Ok(())),
            Err(r) => self.refuse("add-tags", r),
        }
    }

    async fn remove_tags(
        &mut self,
        tags: Vec<String>,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        let limits = self.limits().clone();
        match self.staged.remove_tags(tags, &limits) {
            Ok(()) => Ok(Ok(())),
            Err(r) => self.refuse("remove-tags", r),
        }
    }

    async fn set_status(
        &mut self,
        status: actions::Status,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        self.staged.status = Some(match status {
            actions::Status::Open => StagedStatus::Open,
            actions::Status::Pending => StagedStatus::Pending,
            actions::Status::Solved => StagedStatus::Solved,
        });
        Ok(Ok(()))
    }
}
