//! What every older contract's adapter (`since_v0_1_0`, `since_v0_2_0`) has in common.
//! Minor versions only add, so the interfaces 0.1.0 already had (`types`' errors, events
//! and outcomes, `ticket`, `actions`, `log`) have the same shape in every version and
//! convert the same way; only the generated types differ. The conversions and host
//! implementations are written once here and expanded in each adapter module.

/// Expands the conversions (`error`, `result`, `user`, `event`, `outcome`) and the
/// `ticket`, `actions` and `log` host implementations for one older version. The module
/// it is expanded in must import that version's `types`, `ticket`, `actions` and `log`,
/// the latest's as `l_ticket`, `l_actions` and `l_log`, `crate::bindings` as `latest`,
/// and `RunContext`: the macro's paths resolve there.
macro_rules! core_interfaces {
    () => {
        fn error(e: latest::PluginError) -> types::Error {
            use latest::PluginError as L;
            match e {
                L::NotFound(m) => types::Error::NotFound(m),
                L::Forbidden(m) => types::Error::Forbidden(m),
                L::Invalid(list) => types::Error::Invalid(
                    list.into_iter()
                        .map(|f| types::FieldError {
                            field: f.field,
                            description: f.description,
                        })
                        .collect(),
                ),
                L::Conflict(m) => types::Error::Conflict(m),
                L::RateLimited(s) => types::Error::RateLimited(s),
                L::Unavailable(m) => types::Error::Unavailable(m),
                L::NotAllowed(m) => types::Error::NotAllowed(m),
            }
        }

        fn result<T, U>(
            r: wasmtime::Result<Result<T, latest::PluginError>>,
            f: impl FnOnce(T) -> U,
        ) -> wasmtime::Result<Result<U, types::Error>> {
            Ok(r?.map(f).map_err(error))
        }

        fn user(u: l_ticket::User) -> ticket::User {
            ticket::User {
                id: u.id,
                name: u.name,
                email: u.email,
                role: u.role,
            }
        }

        /// This version's event for a latest event.
        pub fn event(e: &latest::Event) -> types::Event {
            types::Event {
                ticket_id: e.ticket_id,
                brand: e.brand.clone(),
                endpoint: e.endpoint.clone(),
                environment: e.environment.clone(),
                mode: match e.mode {
                    latest::Mode::Listening => types::Mode::Listening,
                    latest::Mode::Live => types::Mode::Live,
                },
            }
        }

        /// The latest outcome for this version's outcome.
        pub fn outcome(o: types::Outcome) -> latest::Outcome {
            match o {
                types::Outcome::Handled(r) => latest::Outcome::Handled(r),
                types::Outcome::HandedOff(r) => latest::Outcome::HandedOff(r),
                types::Outcome::Skipped(r) => latest::Outcome::Skipped(r),
            }
        }

        impl types::Host for RunContext {}

        impl ticket::Host for RunContext {
            async fn get(&mut self) -> wasmtime::Result<Result<ticket::TicketInfo, types::Error>> {
                result(l_ticket::Host::get(self).await, |t| ticket::TicketInfo {
                    id: t.id,
                    subject: t.subject,
                    description: t.description,
                    status: t.status,
                    priority: t.priority,
                    ticket_type: t.ticket_type,
                    requester_id: t.requester_id,
                    assignee_id: t.assignee_id,
                    group_id: t.group_id,
                    brand_id: t.brand_id,
                    tags: t.tags,
                    channel: t.channel,
                    created_at: t.created_at,
                    updated_at: t.updated_at,
                })
            }

            async fn comments(
                &mut self,
            ) -> wasmtime::Result<Result<Vec<ticket::Comment>, types::Error>> {
                result(l_ticket::Host::comments(self).await, |list| {
                    list.into_iter()
                        .map(|c| ticket::Comment {
                            id: c.id,
                            author_id: c.author_id,
                            body: c.body,
                            public: c.public,
                            created_at: c.created_at,
                        })
                        .collect()
                })
            }

            async fn get_user(
                &mut self,
                id: u64,
            ) -> wasmtime::Result<Result<ticket::User, types::Error>> {
                result(l_ticket::Host::get_user(self, id).await, user)
            }

            async fn seat(&mut self) -> wasmtime::Result<ticket::User> {
                Ok(user(l_ticket::Host::seat(self).await?))
            }
        }

        impl actions::Host for RunContext {
            async fn reply(&mut self, body: String) -> wasmtime::Result<Result<(), types::Error>> {
                result(l_actions::Host::reply(self, body).await, |()| ())
            }

            async fn note(&mut self, body: String) -> wasmtime::Result<Result<(), types::Error>> {
                result(l_actions::Host::note(self, body).await, |()| ())
            }

            async fn assign(
                &mut self,
                to: actions::Assignee,
            ) -> wasmtime::Result<Result<(), types::Error>> {
                let to = match to {
                    actions::Assignee::AiSeat => l_actions::Assignee::AiSeat,
                    actions::Assignee::Agent(id) => l_actions::Assignee::Agent(id),
                    actions::Assignee::Group(id) => l_actions::Assignee::Group(id),
                };
                result(l_actions::Host::assign(self, to).await, |()| ())
            }

            async fn unassign(&mut self) -> wasmtime::Result<Result<(), types::Error>> {
                result(l_actions::Host::unassign(self).await, |()| ())
            }

            async fn add_tags(
                &mut self,
                tags: Vec<String>,
            ) -> wasmtime::Result<Result<(), types::Error>> {
                result(l_actions::Host::add_tags(self, tags).await, |()| ())
            }

            async fn remove_tags(
                &mut self,
                tags: Vec<String>,
            ) -> wasmtime::Result<Result<(), types::Error>> {
                result(l_actions::Host::remove_tags(self, tags).await, |()| ())
            }

            async fn set_status(
                &mut self,
                status: actions::Status,
            ) -> wasmtime::Result<Result<(), types::Error>> {
                let status = match status {
                    actions::Status::Open => l_actions::Status::Open,
                    actions::Status::Pending => l_actions::Status::Pending,
                    actions::Status::Solved => l_actions::Status::Solved,
                };
                result(l_actions::Host::set_status(self, status).await, |()| ())
            }
        }

        impl log::Host for RunContext {
            async fn log(
                &mut self,
                level: log::Level,
                message: String,
                fields: Vec<(String, String)>,
            ) -> wasmtime::Result<()> {
                let level = match level {
                    log::Level::Debug => l_log::Level::Debug,
                    log::Level::Info => l_log::Level::Info,
                    log::Level::Warn => l_log::Level::Warn,
                    log::Level::Error => l_log::Level::Error,
                };
                l_log::Host::log(self, level, message, fields).await
            }
        }
    };
}
pub(super) use core_interfaces;
