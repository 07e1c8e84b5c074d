//! Dispatch: the cost of handling one ticket in the plugin runtime, against bare
//! wasmtime running the same component on the same engine.
//!
//! * Gateway: `runtime::run::run_plugin`, the path every ticket takes: a fresh `Store`
//!   with the brand's limits and deadline, an instance from the pool through the
//!   plugin's `InstancePre`, `handle`, the host imports reading from the run's
//!   [`ReadCache`] (filled beforehand, so no request leaves the process) and staging
//!   with their capability checks, then the run's bookkeeping.
//! * Bare wasmtime: `InstancePre::instantiate_async` and one `handle` call of the same
//!   `.wasm` on the gateway's own engine (same config, same pooling allocator), with a
//!   linker holding WASI and trivial imports that answer from the same data.
//!
//! Both run the triage plugin on the same ticket, one run at a time, in alternating
//! blocks.

use crate::common::{self, figure, mean, percentile, us, BrandDef, Scale};
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use zendesk_gateway::bindings::zendesk_gateway::plugin::{
    actions, fields, hours, knowledge, llm, log, settings, ticket, types,
};
use zendesk_gateway::bindings::{
    BrandPlugin, BrandPluginPre, Event, Mode as WitMode, Outcome, PluginError,
};
use zendesk_gateway::capabilities::RunContext;
use zendesk_gateway::config::Mode;
use zendesk_gateway::gateway::{Gateway, StartOptions};
use zendesk_gateway::runtime::run::{run_plugin, RunRequest};
use zendesk_gateway::zendesk::ReadCache;

/// The ticket as the plugin sees it, prepared once for the bare runs.
struct TicketData {
    info: ticket::TicketInfo,
    comments: Vec<ticket::Comment>,
    requester: ticket::User,
    seat: ticket::User,
}

/// The bare run's store data: WASI with nothing in it, and the ticket.
struct BareState {
    wasi: WasiCtx,
    table: ResourceTable,
    data: Arc<TicketData>,
    /// What the plugin asked for, kept only so the calls are not optimised away.
    actions: usize,
}

impl WasiView for BareState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for BareState {}

impl ticket::Host for BareState {
    async fn get(&mut self) -> wasmtime::Result<Result<ticket::TicketInfo, PluginError>> {
        Ok(Ok(self.data.info.clone()))
    }

    async fn comments(&mut self) -> wasmtime::Result<Result<Vec<ticket::Comment>, PluginError>> {
        Ok(Ok(self.data.comments.clone()))
    }

    async fn get_user(&mut self, id: u64) -> wasmtime::Result<Result<ticket::User, PluginError>> {
        Ok(if id == self.data.requester.id {
            Ok(self.data.requester.clone())
        } else {
            Err(PluginError::NotFound(format!("user {id}")))
        })
    }

    async fn seat(&mut self) -> wasmtime::Result<ticket::User> {
        Ok(self.data.seat.clone())
    }
}

impl actions::Host for BareState {
    async fn reply(&mut self, _body: String) -> wasmtime::Result<Result<(), PluginError>> {
        self.actions += 1;
        Ok(Ok(()))
    }

    async fn note(&mut self, _body: String) -> wasmtime::Result<Result<(), PluginError>> {
        self.actions += 1;
        Ok(Ok(()))
    }

    async fn assign(
        &mut self,
        _to: actions::Assignee,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        self.actions += 1;
        Ok(Ok(()))
    }

    async fn unassign(&mut self) -> wasmtime::Result<Result<(), PluginError>> {
        self.actions += 1;
        Ok(Ok(()))
    }

    async fn add_tags(&mut self, _tags: Vec<String>) -> wasmtime::Result<Result<(), PluginError>> {
        self.actions += 1;
        Ok(Ok(()))
    }

    async fn remove_tags(
        &mut self,
        _tags: Vec<String>,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        self.actions += 1;
        Ok(Ok(()))
    }

    async fn set_status(
        &mut self,
        _status: actions::Status,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        self.actions += 1;
        Ok(Ok(()))
    }
}

impl log::Host for BareState {
    async fn log(
        &mut self,
        _level: log::Level,
        _message: String,
        _fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl llm::Host for BareState {
    async fn complete(
        &mut self,
        _request: llm::CompletionRequest,
    ) -> wasmtime::Result<Result<llm::Completion, llm::LlmError>> {
        Ok(Err(llm::LlmError::NotConfigured))
    }
}

impl knowledge::Host for BareState {
    async fn search(
        &mut self,
        _query: String,
        _limit: u32,
    ) -> wasmtime::Result<Vec<knowledge::Article>> {
        Ok(Vec::new())
    }
}

impl settings::Host for BareState {
    async fn get(&mut self, _key: String) -> wasmtime::Result<Option<String>> {
        Ok(None)
    }
}

impl fields::Host for BareState {
    async fn allowed(&mut self) -> wasmtime::Result<Vec<fields::FieldInfo>> {
        Ok(Vec::new())
    }

    async fn get(&mut self, name: String) -> wasmtime::Result<Result<Option<String>, PluginError>> {
        Ok(Err(PluginError::NotAllowed(name)))
    }

    async fn set(
        &mut self,
        name: String,
        _value: String,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        Ok(Err(PluginError::NotAllowed(name)))
    }
}

impl hours::Host for BareState {
    async fn status(&mut self) -> wasmtime::Result<Option<hours::BusinessHours>> {
        Ok(None)
    }
}

/// Compiles `wasm` on `engine` and links it against WASI and the trivial imports.
fn bare_pre(engine: &Engine, wasm: &[u8]) -> anyhow::Result<BrandPluginPre<BareState>> {
    let component = Component::new(engine, wasm)?;
    let mut linker = Linker::<BareState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    BrandPlugin::add_to_linker::<BareState, HasSelf<BareState>>(&mut linker, |s| s)?;
    Ok(BrandPluginPre::new(linker.instantiate_pre(&component)?)?)
}

/// One bare run: a store, an instance from the pool, one `handle` call.
async fn bare_run(
    pre: &BrandPluginPre<BareState>,
    data: &Arc<TicketData>,
    event: &Event,
) -> anyhow::Result<Outcome> {
    let state = BareState {
        wasi: WasiCtx::builder().build(),
        table: ResourceTable::new(),
        data: data.clone(),
        actions: 0,
    };
    let mut store = Store::new(pre.engine(), state);
    // The engine counts epochs for deadlines; a store without a deadline would trap at
    // once, so the bare run gets one that never comes.
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = pre.instantiate_async(&mut store).await?;
    let outcome = instance
        .zendesk_gateway_plugin_handler()
        .call_handle(&mut store, event)
        .await?
        .map_err(|e| anyhow::anyhow!("plugin error: {e}"))?;
    anyhow::ensure!(store.data().actions > 0, "the plugin staged nothing");
    Ok(outcome)
}

/// Runs the section and prints its figure.
pub async fn run(scale: Scale) -> anyhow::Result<()> {
    let blocks = scale.pick(2, 10);
    let per_block = scale.pick(10, 500);

    let sim = common::start_simulator().await?;
    let ticket_id = sim.create_ticket(common::new_ticket(false)).id;
    let dir = common::scratch_dir("dispatch");
    let brand = BrandDef::new("triage", zendesk_gateway::plugin_artifacts::TRIAGE_PATH);
    let text = common::config_text(
        &sim.base_url(),
        &dir.join("data"),
        "127.0.0.1:0",
        std::slice::from_ref(&brand),
        "",
    );
    let config = common::load_config(&common::write_config(&dir, &text, &common::sim_token()))?;
    // The gateway's state without its server and workers: nothing else runs meanwhile.
    let gw = Gateway::start(config, StartOptions::default()).await?;
    let brand_rt = gw.brand("triage").expect("brand loaded");
    let env = gw.environment("production").expect("environment connected");

    // The reads a run makes, done once: every run below starts from a copy of this
    // cache, as a run does after the host's loop guard has read the comments.
    let mut cache = ReadCache::default();
    let comments = cache.comments(&env.client, ticket_id).await?.to_vec();
    let zd_ticket = cache.ticket(&env.client, ticket_id).await?.clone();
    let requester = env
        .client
        .user(zd_ticket.requester_id.unwrap_or_default())
        .await?;
    let request = RunRequest {
        environment: "production".into(),
        endpoint: "triage".into(),
        mode: Mode::Live,
    };
    let gateway_run = || {
        let mut context = RunContext::new(
            ticket_id,
            brand_rt.brand.clone(),
            brand_rt.plugin.version.clone(),
            env.client.clone(),
            env.seat.clone(),
            brand_rt.capabilities.clone(),
        );
        context.reads = cache.clone();
        run_plugin(&brand_rt.plugin, context, &request)
    };

    let data = Arc::new(TicketData {
        info: ticket::TicketInfo {
            id: zd_ticket.id,
            subject: zd_ticket.subject.clone().unwrap_or_default(),
            description: zd_ticket.description.clone().unwrap_or_default(),
            status: zd_ticket.status.clone(),
            priority: zd_ticket.priority.clone(),
            ticket_type: zd_ticket.ticket_type.clone(),
            requester_id: zd_ticket.requester_id.unwrap_or(0),
            assignee_id: zd_ticket.assignee_id,
            group_id: zd_ticket.group_id,
            brand_id: zd_ticket.brand_id,
            tags: zd_ticket.tags.clone(),
            channel: zd_ticket
                .via
                .as_ref()
                .and_then(|v| v.channel.clone())
                .unwrap_or_default(),
            created_at: zd_ticket.created_at.clone().unwrap_or_default(),
            updated_at: zd_ticket.updated_at.clone().unwrap_or_default(),
        },
        comments: comments
            .iter()
            .map(|c| ticket::Comment {
                id: c.id,
                author_id: c.author_id,
                body: c.text().to_string(),
                public: c.public,
                created_at: c.created_at.clone().unwrap_or_default(),
            })
            .collect(),
        requester: ticket::User {
            id: requester.id.unwrap_or_default(),
            name: requester.name.clone(),
            email: requester.email.clone(),
            role: requester.role.clone(),
        },
        seat: ticket::User {
            id: env.seat.id,
            name: env.seat.name.clone(),
            email: Some(env.seat.email.clone()),
            role: env.seat.role.clone(),
        },
    });
    let engine = brand_rt.plugin.pre.engine().clone();
    let wasm = std::fs::read(&brand_rt.plugin.path)?;
    let pre = bare_pre(&engine, &wasm)?;
    let event = Event {
        ticket_id,
        brand: "triage".into(),
        endpoint: "triage".into(),
        environment: "production".into(),
        mode: WitMode::Live,
    };

    // Both sides must do the same work: check they reach the same decision.
    let gateway_outcome = gateway_run().await.outcome;
    let bare_outcome = bare_run(&pre, &data, &event).await?;
    let same = matches!(
        (&gateway_outcome, &bare_outcome),
        (Ok(zendesk_gateway::runtime::RunOutcome::HandedOff(a)), Outcome::HandedOff(b)) if a == b
    ) || matches!(
        (&gateway_outcome, &bare_outcome),
        (Ok(zendesk_gateway::runtime::RunOutcome::Handled(a)), Outcome::Handled(b)) if a == b
    );
    anyhow::ensure!(
        same,
        "the gateway and the bare run decided differently: {gateway_outcome:?} vs {bare_outcome:?}"
    );

    sim.clear_calls();
    // Warm-up: fill the instance pool's slots and the caches on both sides.
    for _ in 0..per_block.min(20) {
        gateway_run().await;
        bare_run(&pre, &data, &event).await?;
    }
    let (mut gateway, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..blocks {
        for _ in 0..per_block {
            let started = Instant::now();
            let result = gateway_run().await;
            gateway.push(started.elapsed());
            anyhow::ensure!(result.outcome.is_ok(), "gateway run failed");
        }
        for _ in 0..per_block {
            let started = Instant::now();
            bare_run(&pre, &data, &event).await?;
            bare.push(started.elapsed());
        }
    }
    // The figure is about the runtime: no run may have gone to Zendesk.
    anyhow::ensure!(
        sim.calls().is_empty(),
        "gateway runs called Zendesk: {:?}",
        sim.calls().first().map(|c| &c.path)
    );
    let (g_mean, b_mean) = (mean(&gateway), mean(&bare));
    let (g_p50, b_p50) = (percentile(&mut gateway, 50.0), percentile(&mut bare, 50.0));
    let ratio = g_mean.as_secs_f64() / b_mean.as_secs_f64();
    figure(
        "dispatch",
        &format!("gateway {}/ticket (p50 {})", us(g_mean), us(g_p50)),
        &format!("bare wasmtime {}/ticket (p50 {})", us(b_mean), us(b_p50)),
        &format!(
            "ratio {ratio:.2} (target <= 1.5) {}",
            if ratio <= 1.5 { "MET" } else { "MISSED" }
        ),
    );
    drop(gw);
    sim.shutdown().await;
    Ok(())
}
