//! End-to-end tests: the gateway and the Zendesk simulator on loopback, with real plugins
//! compiled from `plugins/`. One test binary with modules, to keep link time down.

mod fake_llm;
mod harness;
mod proxy;

mod actions;
mod console;
mod doctor;
mod durability;
mod hardening;

mod ingress;
mod isolation;
mod native;
mod operations;
mod pipeline;
mod plugins;
mod reload;
mod replicas;
mod run_model;
mod sandbox;
mod setup;
mod startup;
mod zendesk_real;
