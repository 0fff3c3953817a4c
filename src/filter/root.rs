//! The root context of one VM: parses the configuration once, ticks to keep
//! remote keys fresh (sync from shared data, fetch when due), takes callout
//! replies, and settles held requests when their keys change or a fetch ends.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::abi::Action;
use super::foreign;
use super::host::{self, Proxy};
use super::http::{after_decision, decide_and_plan, respond_later};
use super::introspection::{
    give_up_overdue as give_up_overdue_answers, land_answer, under_way, Answered,
};
use super::metrics::Metrics;
use super::outbound::{give_up_overdue, land_reply, Settled};
use super::respond::{carry_out, reject};
use super::vm::{Asked, Held, Vm};
use crate::config::{Config, Lookups};
use crate::decision::onward::Onward;
use crate::decision::{decide_with_peer, Decision};
use crate::keys::fetcher::{Fetched, Taken};
use crate::keys::fresh_keys::still_held;
use crate::keys::shared_state::create_records;
use crate::policy::caller::KnownPeer;
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
            let asking = std::mem::take(&mut vm.asking);
            for _ in waiting.iter().map(|_| ()).chain(asking.iter().map(|_| ())) {
                vm.metrics.decision(Err(RETIRED), None, false);
            }
            vm.flights.abandon();
            for flights in vm.asked.iter_mut().flatten() {
                flights.abandon();
            }
            vm.metrics.flush();
            held.into_iter()
                .map(|request| request.context_id)
                .chain(waiting.into_iter().map(|request| request.context_id))
                .chain(asking.into_iter().map(|request| request.context_id))
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
                    match land_answer(vm, token_id, reply, now_s) {
                        Some(answered) => Some(Some(decide_answered(vm, vec![answered], now_ms))),
                        None => {
                            let reply = || host::call_reply(body_size);
                            Some(
                                land_reply(vm, token_id, reply, now_s).map(|settled| {
                                    settled.into_iter().map(from_exchange).collect()
                                }),
                            )
                        }
                    }
                }
            }
        };
        match landed {
            None => self.settle_held(&vm_cell, now_ms),
            Some(None) => return,
            Some(Some(decided)) => self.carry_out_decided(&vm_cell, decided),
        }
        host::refresh_clock();
    }

    /// Answers or resumes each request decided after it was held.
    fn carry_out_decided(&self, vm_cell: &Rc<RefCell<Vm>>, decided: Vec<Decided>) {
        let Some((config, metrics, budget)) = vm_cell.try_borrow().ok().map(|vm| {
            (
                Rc::clone(&vm.config),
                Rc::clone(&vm.metrics),
                Rc::clone(&vm.log_budget),
            )
        }) else {
            return;
        };
        for held in decided {
            if !host::enter_context(held.context_id) {
                continue;
            }
            let request = Request::from_headers(&held.headers);
            let later = held.onward.plan.response_headers.clone();
            let action = carry_out(
                &config,
                &metrics,
                &budget,
                &request,
                &held.peer,
                held.decision,
                held.onward,
            );
            respond_later(held.context_id, action, later);
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
            "audgate: configured {} provider(s), {} rule(s), mode {}",
            config.providers.len(),
            config.rules.len(),
            config.mode.name()
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
            let now_s = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
            if !vm.flights.is_empty() {
                let given_up = give_up_overdue(&mut vm, now_s);
                if !given_up.is_empty() {
                    drop(vm);
                    let decided = given_up.into_iter().map(from_exchange).collect();
                    self.carry_out_decided(&vm_cell, decided);
                    return;
                }
            }
            if under_way(&vm) {
                let given_up = give_up_overdue_answers(&mut vm, now_s);
                if !given_up.is_empty() {
                    let decided = decide_answered(&mut vm, given_up, now_ms);
                    drop(vm);
                    self.carry_out_decided(&vm_cell, decided);
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
        let settled = {
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
            ready
                .into_iter()
                .filter_map(|held| {
                    let request = Request::from_headers(&held.headers);
                    let decision = vm.with_verifier_landed(now_ms, &held.answered, |verifier| {
                        decide_with_peer(&config, &request, verifier, &held.peer)
                    });
                    // It may go on to wait for its token's introspection or
                    // exchange (then it is held again, by that).
                    let asked = Asked {
                        context_id: held.context_id,
                        headers: &held.headers,
                        peer: &held.peer,
                        answered: &held.answered,
                    };
                    let planned = after_decision(vm, &asked, decision, now_ms);
                    vm.count_reused_answers();
                    let (decision, onward) = planned?;
                    Some(Decided::from_held(held, decision, onward))
                })
                .collect::<Vec<Decided>>()
        };
        self.carry_out_decided(vm_cell, settled);
    }
}

/// A request held earlier, now decided and planned.
struct Decided {
    context_id: u32,
    headers: Vec<(String, String)>,
    peer: KnownPeer,
    decision: Decision,
    onward: Onward,
}

impl Decided {
    fn from_held(held: Held, decision: Decision, onward: Onward) -> Decided {
        Decided {
            context_id: held.context_id,
            headers: held.headers,
            peer: held.peer,
            decision,
            onward,
        }
    }
}

/// A request a landed exchange settled.
fn from_exchange(settled: Settled) -> Decided {
    let Settled { waiting, onward } = settled;
    Decided {
        context_id: waiting.context_id,
        headers: waiting.headers,
        peer: waiting.peer,
        decision: waiting.decision,
        onward,
    }
}

/// Decides each request that waited for an answer, with that answer and those
/// that landed for it before at hand; one may be held again (for keys, another
/// answer or an exchange).
fn decide_answered(vm: &mut Vm, answered: Vec<Answered>, now_ms: u64) -> Vec<Decided> {
    let mut decided = Vec::new();
    for Answered {
        key,
        vouched,
        ready,
    } in answered
    {
        for asking in ready {
            let mut landed = asking.answered;
            landed.push((key, vouched.clone()));
            let asked = Asked {
                context_id: asking.context_id,
                headers: &asking.headers,
                peer: &asking.peer,
                answered: &landed,
            };
            let planned = decide_and_plan(vm, &asked, now_ms);
            vm.count_reused_answers();
            let Some((decision, onward)) = planned else {
                continue;
            };
            decided.push(Decided {
                context_id: asking.context_id,
                headers: asking.headers,
                peer: asking.peer,
                decision,
                onward,
            });
        }
    }
    decided
}

/// Counts the fetches that ended.
fn count_fetches(vm: &Vm, fetched: impl IntoIterator<Item = Fetched>) {
    for fetch in fetched {
        vm.metrics.fetch(fetch.first_provider, fetch.ok);
    }
}
