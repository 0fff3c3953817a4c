//! The root context of one VM: parses the configuration once, ticks to keep
//! remote keys fresh (sync from shared data, fetch when due), takes callout
//! replies, and settles held requests when their keys change or a fetch ends.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::abi::Action;
use super::foreign;
use super::host::{self, Proxy};
use super::http::respond_later;
use super::metrics::Metrics;
use super::outbound::{give_up_overdue, land_reply, plan, Outgoing, Settled};
use super::respond::{carry_out, reject};
use super::vm::{Held, Vm};
use crate::config::{Config, Lookups};
use crate::decision::onward::Onward;
use crate::decision::proof_replay::remembered;
use crate::decision::{decide_with_peer, Decision};
use crate::keys::fetcher::{Fetched, Taken};
use crate::keys::fresh_keys::still_held;
use crate::keys::shared_state::create_records;
use crate::rejection::{HostFailure, Rejection};
use crate::request::Request;

/// What a held request of a retired root is answered.
const RETIRED: Rejection = Rejection::HostFailure(HostFailure::PluginRetired);

/// How often each VM flushes its stats, refreshes its clock, checks shared
/// data, starts due fetches and settles held requests.
const TICK: Duration = Duration::from_millis(100);

/// Root context: one per VM and plugin. Cloning copies the handle, not the state.
#[derive(Clone)]
pub struct AudgateRoot {
    context_id: u32,
    vm: Option<Rc<RefCell<Vm>>>,
    /// The VM's stats, also reachable while its state is in use.
    metrics: Option<Rc<Metrics>>,
}

impl AudgateRoot {
    /// A root context not yet configured.
    pub fn new(context_id: u32) -> AudgateRoot {
        AudgateRoot {
            context_id,
            vm: None,
            metrics: None,
        }
    }

    /// The host's id of this root context.
    pub fn id(&self) -> u32 {
        self.context_id
    }

    /// The VM state, once configured.
    pub fn vm(&self) -> Option<Rc<RefCell<Vm>>> {
        self.vm.clone()
    }

    /// The VM state and its stats, once configured.
    pub fn configured(&self) -> Option<(Rc<RefCell<Vm>>, Rc<Metrics>)> {
        Some((self.vm.clone()?, self.metrics.clone()?))
    }

    /// The host retires this root: every request it holds is answered 503
    /// (nothing will settle them any more: a host failure, not missing keys)
    /// and counted so, then its counts are flushed.
    pub fn on_done(&self) {
        let Some(vm_cell) = self.vm.clone() else {
            return;
        };
        let held = {
            let Ok(mut vm) = vm_cell.try_borrow_mut() else {
                return;
            };
            let held = std::mem::take(&mut vm.held);
            for request in &held {
                let refused = Err(RETIRED);
                vm.metrics
                    .decision(refused, Some(request.hold.provider), false);
            }
            let waiting = std::mem::take(&mut vm.waiting);
            for _ in &waiting {
                vm.metrics.decision(Err(RETIRED), None, false);
            }
            vm.flights.abandon();
            vm.metrics.flush();
            held.into_iter()
                .map(|request| request.context_id)
                .chain(waiting.into_iter().map(|request| request.context_id))
                .collect::<Vec<u32>>()
        };
        for context_id in held {
            if host::enter_context(context_id) {
                reject(RETIRED, "");
            }
        }
        host::enter_context(self.context_id);
    }

    /// Takes the reply of callout `token_id`: a key fetch's (then held requests
    /// are settled) or an exchange's (then the requests waiting on it are).
    pub fn on_http_call_response(&self, token_id: u32, body_size: usize) {
        let Some(vm_cell) = self.vm.clone() else {
            return;
        };
        let now_ms = host::refresh_clock();
        let landed = {
            let Ok(mut vm) = vm_cell.try_borrow_mut() else {
                return;
            };
            let vm = &mut *vm;
            let reply = || host::call_reply(body_size);
            let taken = vm.fetcher.take_reply(
                &mut vm.sources,
                &Proxy,
                token_id,
                now_ms,
                host::jitter(),
                reply,
            );
            match taken {
                Taken::Reply(fetched) => {
                    count_fetches(vm, fetched);
                    None
                }
                Taken::NotOurs => {
                    let now_s = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
                    let reply = || host::call_reply(body_size);
                    Some(land_reply(vm, token_id, reply, now_s))
                }
            }
        };
        match landed {
            None => self.settle_held(&vm_cell, now_ms),
            Some(None) => return,
            Some(Some(settled)) => self.carry_out_settled(&vm_cell, settled),
        }
        host::refresh_clock();
    }

    /// Answers or resumes each request a landed exchange settled.
    fn carry_out_settled(&self, vm_cell: &Rc<RefCell<Vm>>, settled: Vec<Settled>) {
        let Some((config, metrics, budget)) = vm_cell.try_borrow().ok().map(|vm| {
            (
                Rc::clone(&vm.config),
                Rc::clone(&vm.metrics),
                Rc::clone(&vm.log_budget),
            )
        }) else {
            return;
        };
        for Settled { waiting, onward } in settled {
            if !host::enter_context(waiting.context_id) {
                continue;
            }
            let request = Request::from_headers(&waiting.headers);
            let later = onward.plan.response_headers.clone();
            let action = carry_out(
                &config,
                &metrics,
                &budget,
                &request,
                &waiting.peer,
                waiting.decision,
                onward,
            );
            respond_later(waiting.context_id, action, later);
            if action == Action::Continue {
                host::resume_request();
            }
        }
        host::enter_context(self.context_id);
    }

    /// Parses the plugin configuration; false refuses it.
    pub fn on_configure(&mut self) -> bool {
        // Format and send only what the host will keep: per-request `debug` lines
        // cost nothing unless Envoy's wasm log level asks for them.
        log::set_max_level(host::log_level());
        host::refresh_clock();
        // Secrets (`*_env`) come from the VM's environment: Envoy's
        // `vm_config.environment_variables`, Istio's `vmConfig.env`.
        let env = |name: &str| std::env::var(name).ok();
        let lookups = Lookups {
            node: &host::node_metadata,
            env: &env,
        };
        let config = match Config::from_json_in(&host::plugin_configuration(), &lookups) {
            Ok(config) => config,
            Err(error) => {
                log::error!("audgate: invalid plugin configuration: {error}");
                return false;
            }
        };
        for provider in &config.providers {
            log::info!(
                "audgate: provider {} accepts audiences {:?}",
                provider.name,
                provider.audiences
            );
        }
        for (index, rule) in config.rules.iter().enumerate() {
            for demand in rule.requires.demands() {
                if let Some(audiences) = &demand.audiences {
                    log::info!("audgate: rules[{index}] accepts audiences {audiences:?}");
                }
            }
        }
        log::info!(
            "audgate: configured {} provider(s), {} rule(s), mode {:?}",
            config.providers.len(),
            config.rules.len(),
            config.mode
        );
        let plugin = format!(
            "{}/{}",
            host::property("plugin_name").unwrap_or_default(),
            host::property("plugin_root_id").unwrap_or_default()
        );
        let host_verify = foreign::host_verifies();
        log::info!(
            "audgate: signatures verified by {}",
            if host_verify {
                "the host (RS*, ES*) and rust_crypto (others)"
            } else {
                "rust_crypto"
            }
        );
        let vm = Vm::new(Rc::new(config), &plugin, host_verify);
        vm.metrics.define_key_sets(&vm.config, &vm.sources);
        if !vm.sources.is_empty() {
            create_records(&Proxy, &vm.sources);
        }
        // Every VM ticks: stats are flushed and the clock read on the tick.
        if !host::set_tick_period(TICK) {
            log::error!("audgate: the host refused a tick period, which the filter needs");
            return false;
        }
        self.metrics = Some(Rc::clone(&vm.metrics));
        self.vm = Some(Rc::new(RefCell::new(vm)));
        true
    }

    /// Flushes stats, refreshes the clock, keeps remote keys fresh and settles
    /// held requests.
    pub fn on_tick(&self) {
        let Some(vm_cell) = self.vm.clone() else {
            return;
        };
        let now_ms = host::refresh_clock();
        {
            let Ok(mut vm) = vm_cell.try_borrow_mut() else {
                return;
            };
            vm.metrics.flush();
            if !vm.flights.is_empty() {
                let now_s = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
                let given_up = give_up_overdue(&mut vm, now_s);
                if !given_up.is_empty() {
                    drop(vm);
                    self.carry_out_settled(&vm_cell, given_up);
                    return;
                }
            }
            if vm.sources.is_empty() {
                return;
            }
            let vm = &mut *vm;
            let fetched = vm
                .fetcher
                .tick(&mut vm.sources, &Proxy, now_ms, host::jitter());
            count_fetches(vm, fetched);
            for remote in vm.sources.iter() {
                if let Some(fetched_at) = remote.copy.fetched_at() {
                    let age = now_ms.saturating_sub(fetched_at) / 1000;
                    vm.metrics.key_age(remote.first_provider(), age);
                }
            }
        }
        self.settle_held(&vm_cell, now_ms);
        // Deciding held requests can take a while: the next requests' clock is
        // read after it.
        host::refresh_clock();
    }

    /// Decides every held request whose wait is over, and resumes or answers it.
    fn settle_held(&self, vm_cell: &Rc<RefCell<Vm>>, now_ms: u64) {
        // Decide every ready request under one borrow, then carry the decisions
        // out with no borrow held: answering a request can make the host call
        // that request's `on_done`, which borrows the VM state itself.
        let (config, metrics, budget, settled) = {
            let Ok(mut vm) = vm_cell.try_borrow_mut() else {
                return;
            };
            if vm.held.is_empty() {
                return;
            }
            let vm = &mut *vm;
            let holds = vm.held.iter().map(|held| held.hold);
            let mut waiting = still_held(&mut vm.sources, &Proxy, holds, now_ms).into_iter();
            let (keep, ready): (Vec<Held>, Vec<Held>) = std::mem::take(&mut vm.held)
                .into_iter()
                .partition(|_| waiting.next().unwrap_or(false));
            vm.held = keep;
            if ready.is_empty() {
                return;
            }
            let config = Rc::clone(&vm.config);
            let decided: Vec<(Held, Decision)> = ready
                .into_iter()
                .map(|held| {
                    let request = Request::from_headers(&held.headers);
                    let decision = vm.with_verifier(now_ms, |verifier| {
                        decide_with_peer(&config, &request, verifier, &held.peer)
                    });
                    // The last check: a DPoP proof is accepted once.
                    let now_s = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
                    (held, remembered(decision, &vm.replay, &Proxy, now_s))
                })
                .collect();
            // With `exchange`, a request now decided may go on to wait for its
            // token's exchange (then it is held again, by the exchange).
            let now_s = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
            let settled: Vec<(Held, Decision, Onward)> = decided
                .into_iter()
                .filter_map(|(held, decision)| {
                    let outgoing = Outgoing {
                        context_id: held.context_id,
                        headers: &held.headers,
                        peer: &held.peer,
                    };
                    let onward = plan(vm, &outgoing, &decision, now_s)?;
                    Some((held, decision, onward))
                })
                .collect();
            (
                config,
                Rc::clone(&vm.metrics),
                Rc::clone(&vm.log_budget),
                settled,
            )
        };
        for (held, decision, onward) in settled {
            if !host::enter_context(held.context_id) {
                continue;
            }
            let request = Request::from_headers(&held.headers);
            let later = onward.plan.response_headers.clone();
            let action = carry_out(
                &config, &metrics, &budget, &request, &held.peer, decision, onward,
            );
            respond_later(held.context_id, action, later);
            if action == Action::Continue {
                host::resume_request();
            }
        }
        host::enter_context(self.context_id);
    }
}

/// Counts the fetches that ended.
fn count_fetches(vm: &Vm, fetched: impl IntoIterator<Item = Fetched>) {
    for fetch in fetched {
        vm.metrics.fetch(fetch.first_provider, fetch.ok);
    }
}
