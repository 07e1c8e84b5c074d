//! The WIT versions this host serves, in the manner of Zed's `wasm_host/wit.rs`: one enum
//! over the supported versions, each older version a module delegating to the latest
//! implementation, and one list of versions that drives the error texts. Supporting a new
//! version: bind it in `crate::bindings`, add a `since_v…` module and a variant here.

pub mod since_v0_1_0;
pub mod since_v0_2_0;
mod twins;

use super::store::RunState;
use crate::bindings::{self as latest, v0_1_0, v0_2_0};
use wasmtime::component::{HasSelf, InstancePre, Linker};
use wasmtime::{Engine, Store};

/// The versions of `zendesk-gateway:plugin` this host serves, newest first.
pub const SUPPORTED: [&str; 3] = ["0.3.0", "0.2.0", "0.1.0"];

/// The supported versions in words, for error messages: "0.3.0 or 0.2.0 or 0.1.0".
pub fn supported_in_words() -> String {
    SUPPORTED.join(" or ")
}

/// Links WASI and every supported version's imports into `linker`. The versions' imports
/// have distinct versioned names, so they coexist in one linker.
pub fn link(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    // WASI p2 with an empty context: clocks and random work; files, sockets and
    // environment are simply absent from the `WasiCtx` (see `store::new_store`).
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    // wasi:http's outgoing handler and types: every request goes through the run's
    // send hook (`capabilities::http`), which allows only the brand's origins.
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    crate::capabilities::link(linker, |s: &mut RunState| &mut s.ctx)?;
    v0_1_0::BrandPlugin::add_to_linker::<RunState, HasSelf<crate::capabilities::RunContext>>(
        linker,
        |s| &mut s.ctx,
    )?;
    // 0.2.0's imports (issue 19): delegated to the latest in `since_v0_2_0`.
    v0_2_0::BrandPlugin::add_to_linker::<RunState, HasSelf<crate::capabilities::RunContext>>(
        linker,
        |s| &mut s.ctx,
    )?;
    Ok(())
}

/// A plugin prepared for instantiation, by the WIT version it was built against.
pub enum PluginPre {
    /// The latest version.
    Latest(latest::BrandPluginPre<RunState>),
    /// `zendesk-gateway:plugin@0.2.0`.
    V0_2(v0_2_0::BrandPluginPre<RunState>),
    /// `zendesk-gateway:plugin@0.1.0`.
    V0_1(v0_1_0::BrandPluginPre<RunState>),
}

impl PluginPre {
    /// Recognises the plugin's version by its export's versioned name; the error is the
    /// latest version's complaint, which is the one worth reading.
    pub fn new(pre: InstancePre<RunState>) -> Result<Self, wasmtime::Error> {
        match latest::BrandPluginPre::new(pre.clone()) {
            Ok(p) => Ok(PluginPre::Latest(p)),
            Err(latest_err) => match v0_2_0::BrandPluginPre::new(pre.clone()) {
                Ok(p) => Ok(PluginPre::V0_2(p)),
                Err(_) => match v0_1_0::BrandPluginPre::new(pre) {
                    Ok(p) => Ok(PluginPre::V0_1(p)),
                    Err(_) => Err(latest_err),
                },
            },
        }
    }

    /// The WIT package version the plugin was built against.
    pub fn wit_version(&self) -> &'static str {
        match self {
            PluginPre::Latest(_) => SUPPORTED[0],
            PluginPre::V0_2(_) => SUPPORTED[1],
            PluginPre::V0_1(_) => SUPPORTED[2],
        }
    }

    /// The engine the plugin was compiled for.
    pub fn engine(&self) -> &Engine {
        match self {
            PluginPre::Latest(p) => p.engine(),
            PluginPre::V0_2(p) => p.engine(),
            PluginPre::V0_1(p) => p.engine(),
        }
    }

    /// Instantiates the plugin in `store`.
    pub async fn instantiate(
        &self,
        store: &mut Store<RunState>,
    ) -> wasmtime::Result<PluginInstance> {
        Ok(match self {
            PluginPre::Latest(pre) => PluginInstance::Latest(pre.instantiate_async(store).await?),
            PluginPre::V0_2(pre) => PluginInstance::V0_2(pre.instantiate_async(store).await?),
            PluginPre::V0_1(pre) => PluginInstance::V0_1(pre.instantiate_async(store).await?),
        })
    }
}

/// An instantiated plugin, by version.
pub enum PluginInstance {
    /// The latest version.
    Latest(latest::BrandPlugin),
    /// `zendesk-gateway:plugin@0.2.0`.
    V0_2(v0_2_0::BrandPlugin),
    /// `zendesk-gateway:plugin@0.1.0`.
    V0_1(v0_1_0::BrandPlugin),
}

impl PluginInstance {
    /// Calls the plugin's `handle` with the latest event type, converting for older
    /// versions.
    pub async fn handle(
        &self,
        store: &mut Store<RunState>,
        event: &latest::Event,
    ) -> wasmtime::Result<Result<latest::Outcome, String>> {
        match self {
            PluginInstance::Latest(i) => {
                i.zendesk_gateway_plugin_handler()
                    .call_handle(store, event)
                    .await
            }
            PluginInstance::V0_2(i) => {
                let result = i
                    .zendesk_gateway_plugin_handler()
                    .call_handle(store, &since_v0_2_0::event(event))
                    .await?;
                Ok(result.map(since_v0_2_0::outcome))
            }
            PluginInstance::V0_1(i) => {
                let result = i
                    .zendesk_gateway_plugin_handler()
                    .call_handle(store, &since_v0_1_0::event(event))
                    .await?;
                Ok(result.map(since_v0_1_0::outcome))
            }
        }
    }
}
