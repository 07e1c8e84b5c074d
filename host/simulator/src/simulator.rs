//! The running simulator: [`Simulator`], a cheap cloneable handle to its server and
//! state, and [`run`] for serving it from the command line.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{SimUser, SimulatorConfig};
use crate::connection::{Connection, CuttableListener};
use crate::faults::Fault;
use crate::model::{
    AgentEdit, ApiCall, NewComment, NewTicket, SimTicket, TicketState, WebhookDelivery,
};
use crate::shared::Shared;
use crate::state::State;
use crate::{admin, api, delivery};

/// Stops the server when the last [`Simulator`] handle goes away, so a test that
/// forgets `shutdown` does not leave a listener behind.
struct ServerGuard {
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    delivery_task: JoinHandle<()>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
        self.delivery_task.abort();
    }
}

/// A running simulator: a cheap, cloneable handle to its server and state.
#[derive(Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
    guard: Arc<ServerGuard>,
    addr: SocketAddr,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("base_url", &self.shared.base_url)
            .finish()
    }
}

impl Simulator {
    /// Binds `addr` (port 0 picks a free port) and serves in a spawned task.
    pub async fn start(config: SimulatorConfig, addr: SocketAddr) -> anyhow::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let base_url = base_url_for(addr);
        let (deliveries, queued) = mpsc::unbounded_channel();
        let webhooks = config.webhooks.clone();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(config)),
            base_url,
            webhooks,
            deliveries,
        });
        let delivery_task = tokio::spawn(delivery::run(Arc::downgrade(&shared), queued));
        let app = api::router(shared.clone())
            .nest("/_sim", admin::router(shared.clone()))
            .into_make_service_with_connect_info::<Connection>();
        // Accepted connections can be cut by a fault that loses the answer.
        let listener = CuttableListener(listener);
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %e, "zendesk simulator server stopped");
            }
        });
        Ok(Simulator {
            shared,
            guard: Arc::new(ServerGuard {
                stop,
                task: Mutex::new(Some(task)),
                delivery_task,
            }),
            addr,
        })
    }

    /// Creates or replaces a Help Center article (its `updated_at` becomes now, so the
    /// incremental export lists it again).
    pub fn put_article(&self, a: crate::SimArticle) {
        self.shared.lock().help_center.put(a);
    }

    /// Deletes (archives) a Help Center article; false if there is none.
    pub fn delete_article(&self, id: u64) -> bool {
        self.shared.lock().help_center.archive(id)
    }

    /// Adds or replaces a business hours schedule.
    pub fn set_schedule(&self, s: crate::SimSchedule) {
        self.shared.lock().catalog.set_schedule(s);
    }

    /// The Help Center host of the brand with `subdomain`, as the simulator serves it.
    pub fn help_center_host(&self, subdomain: &str) -> String {
        format!("{}/brands/{subdomain}", self.shared.base_url)
    }

    /// `http://127.0.0.1:PORT`: what the gateway uses as its Zendesk base URL.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `Authorization` header value that authenticates as the seat.
    pub fn auth_header(&self) -> String {
        self.shared.lock().desk.auth_header()
    }

    /// The `Authorization` header value that authenticates as the administrator
    /// ([`SimulatorConfig::admin`]), who may manage webhooks, triggers and automations.
    pub fn admin_auth_header(&self) -> String {
        self.shared.lock().desk.admin_auth_header()
    }

    /// The administrator.
    pub fn admin(&self) -> SimUser {
        self.shared.lock().desk.admin.clone()
    }

    /// The seat (the authenticated AI agent).
    pub fn seat(&self) -> SimUser {
        self.shared.lock().desk.seat.clone()
    }

    /// Creates a ticket as its requester would (the body is its first, public comment).
    pub fn create_ticket(&self, t: NewTicket) -> SimTicket {
        let base = &self.shared.base_url;
        let mut st = self.shared.lock();
        let id = st.create_ticket(t);
        st.desk.sim_ticket(id, base).expect("ticket just created")
    }

    /// Adds a comment by a customer or agent (not through the API); advances `updated_at`.
    pub fn add_comment(&self, ticket_id: u64, c: NewComment) -> anyhow::Result<()> {
        self.shared.lock().add_comment(ticket_id, c)
    }

    /// The full state of a ticket, or `None` if there is no such ticket.
    pub fn ticket(&self, id: u64) -> Option<TicketState> {
        self.shared
            .lock()
            .desk
            .ticket_state(id, &self.shared.base_url)
    }

    /// All tickets, in id order.
    pub fn tickets(&self) -> Vec<TicketState> {
        let st = self.shared.lock();
        st.desk
            .ticket_ids()
            .into_iter()
            .filter_map(|id| st.desk.ticket_state(id, &self.shared.base_url))
            .collect()
    }

    /// A human agent's concurrent edit; advances `updated_at` even when it changes
    /// nothing else, which is how tests provoke a safe-update 409.
    pub fn update_ticket_as_agent(&self, id: u64, edit: AgentEdit) -> anyhow::Result<SimTicket> {
        let base = &self.shared.base_url;
        let mut st = self.shared.lock();
        st.agent_edit(id, edit)?;
        Ok(st.desk.sim_ticket(id, base).expect("ticket exists"))
    }

    /// Adds a user (a customer or an agent).
    pub fn add_user(&self, user: SimUser) {
        self.shared.lock().desk.add_user(user);
    }

    /// The API calls received so far, in the order they were processed (admin calls
    /// are not logged; see [`ApiCall`] for held and dropped ones).
    pub fn calls(&self) -> Vec<ApiCall> {
        self.shared.lock().calls.clone()
    }

    /// Forgets the logged API calls.
    pub fn clear_calls(&self) {
        self.shared.lock().calls.clear();
    }

    /// Injects a fault: the next `f.times` matching API requests (or all of them for
    /// `f.for_ms`) fail with `f.status`, are held, or lose their answer; see [`Fault`].
    ///
    /// # Panics
    ///
    /// If the fault would change nothing ([`Fault::check`]): a bug in the test.
    pub fn inject_fault(&self, f: Fault) {
        if let Err(e) = self.try_inject_fault(f) {
            panic!("invalid simulator fault: {e}");
        }
    }

    /// Injects a fault as [`Simulator::inject_fault`] does, or says why it would
    /// change nothing. A window (`for_ms`) starts now.
    pub fn try_inject_fault(&self, f: Fault) -> Result<(), String> {
        f.check()?;
        self.shared.lock().faults.push(f, Instant::now());
        Ok(())
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Forgets the requests counted against the per-minute quota and the Update
    /// Ticket limits (tests that exhaust them use it to carry on).
    pub fn reset_rate_limit(&self) {
        let mut st = self.shared.lock();
        st.quota.reset();
        st.updates.reset();
    }

    /// The webhooks, as `GET /api/v2/webhooks` shows them, oldest first.
    pub fn webhooks(&self) -> Vec<Value> {
        self.shared.lock().rules.webhooks_json()
    }

    /// The signing secret of a webhook (what `GET .../signing_secret` answers).
    pub fn webhook_signing_secret(&self, webhook_id: &str) -> Option<String> {
        self.shared.lock().rules.webhook_secret(webhook_id)
    }

    /// The triggers, as `GET /api/v2/triggers` shows them, in the order they run.
    pub fn triggers(&self) -> Vec<Value> {
        self.shared
            .lock()
            .rules
            .triggers_json(&self.shared.base_url)
    }

    /// The automations, as `GET /api/v2/automations` shows them.
    pub fn automations(&self) -> Vec<Value> {
        self.shared.lock().rules.automations_json()
    }

    /// The webhook calls triggers made so far, oldest first (in-flight ones have no
    /// status yet).
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.shared.lock().rules.deliveries.clone()
    }

    /// The circuit breaker of a webhook, as `GET /_sim/webhooks/{id}/breaker` shows it
    /// (`state`: `closed`, `open` or `half_open`; requests and failures in the window;
    /// trips; notifications dropped).
    pub fn webhook_breaker(&self, webhook_id: &str) -> serde_json::Value {
        let mut st = self.shared.lock();
        st.breakers
            .entry(webhook_id.to_string())
            .or_default()
            .report(Instant::now(), &self.shared.webhooks)
    }

    /// Trips a webhook's circuit breaker now, as enough failures would: it stays
    /// paused for the policy's `breaker_pause`, and notifications meant for it are
    /// dropped (`circuit_broken` invocations).
    pub fn trip_webhook_breaker(&self, webhook_id: &str) {
        let mut st = self.shared.lock();
        st.breakers
            .entry(webhook_id.to_string())
            .or_default()
            .trip(Instant::now(), &self.shared.webhooks);
    }

    /// Gives `user` a custom agent role (added to the account's roles), or takes its
    /// role away: the role's `ticket_access` and `ticket_editing` then decide which of
    /// its ticket updates are refused.
    pub fn set_custom_role(&self, user: u64, role: Option<crate::config::SimCustomRole>) {
        self.shared.lock().roles.set(user, role);
    }

    /// Takes `user` out of `group` (a seat that lost a membership).
    pub fn remove_group_membership(&self, user: u64, group: u64) {
        self.shared.lock().directory.remove_membership(user, group);
    }

    /// Stops the server and waits for it to finish (at most a couple of seconds:
    /// clients holding idle keep-alive connections must not block a test's end).
    pub async fn shutdown(self) {
        let _ = self.guard.stop.send(true);
        let task = self
            .guard
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut task) = task {
            if tokio::time::timeout(std::time::Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

fn base_url_for(addr: SocketAddr) -> String {
    // A wildcard bind is reachable on loopback; a URL naming 0.0.0.0 is not usable.
    let ip = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    match ip {
        IpAddr::V4(v4) => format!("http://{v4}:{}", addr.port()),
        IpAddr::V6(v6) => format!("http://[{v6}]:{}", addr.port()),
    }
}

/// Serves the simulator on `addr` until Ctrl-C, after printing its base URL and
/// the seat's credentials (for `zendesk-gateway simulator` and manual testing).
pub async fn run(config: SimulatorConfig, addr: SocketAddr) -> anyhow::Result<()> {
    let sim = Simulator::start(config, addr).await?;
    let seat = sim.seat();
    let token = sim.shared.lock().desk.api_token.clone();
    println!("Zendesk simulator listening on {}", sim.base_url());
    println!(
        "  seat:      {} <{}> (id {})",
        seat.name, seat.email, seat.id
    );
    println!("  api token: {token}");
    println!("  header:    Authorization: {}", sim.auth_header());
    println!(
        "  admin API: {}/_sim/ (tickets, calls, faults, users, rules, webhook_deliveries)",
        sim.base_url()
    );
    tokio::signal::ctrl_c().await?;
    println!("Zendesk simulator stopping");
    sim.shutdown().await;
    Ok(())
}
