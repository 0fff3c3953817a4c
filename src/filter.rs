//! The proxy-wasm layer: the only file that talks to the host. The root context
//! parses the plugin configuration once; each HTTP context reads the request
//! headers once, asks `decide`, and applies the verdict.

use std::rc::Rc;
use std::time::UNIX_EPOCH;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MapType};

use crate::config::{Config, Mode, WOULD_REJECT_HEADER};
use crate::decision::{decide, Decision, LocalKeys};
use crate::extract::Request;
use crate::rejection::Rejection;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(AudgateRoot::default()) });
}}

#[derive(Default)]
struct AudgateRoot {
    config: Option<Rc<Config>>,
}

impl Context for AudgateRoot {}

impl RootContext for AudgateRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = match hostcalls::get_buffer(
            proxy_wasm::types::BufferType::PluginConfiguration,
            0,
            usize::MAX,
        ) {
            Ok(Some(bytes)) => bytes,
            Ok(None) | Err(_) => Vec::new(),
        };
        match Config::from_json(&bytes) {
            Ok(config) => {
                log::info!(
                    "audgate: configured {} provider(s), {} rule(s), mode {:?}",
                    config.providers.len(),
                    config.rules.len(),
                    config.mode
                );
                self.config = Some(Rc::new(config));
                true
            }
            Err(error) => {
                log::error!("audgate: invalid plugin configuration: {error}");
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(AudgateHttp {
            config: self.config.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct AudgateHttp {
    config: Option<Rc<Config>>,
}

impl Context for AudgateHttp {}

impl HttpContext for AudgateHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(config) = self.config.clone() else {
            return reject(Rejection::KeysUnavailable, "");
        };
        let Ok(pairs) = hostcalls::get_map_bytes(MapType::HttpRequestHeaders) else {
            return reject(Rejection::KeysUnavailable, "");
        };
        let headers: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(name, value)| {
                (
                    name.to_ascii_lowercase(),
                    String::from_utf8_lossy(&value).into_owned(),
                )
            })
            .collect();
        let pseudo = |name: &str| {
            headers
                .iter()
                .find(|(key, _)| key == name)
                .map_or("", |(_, value)| value.as_str())
        };
        let request = Request {
            method: pseudo(":method"),
            path: pseudo(":path"),
            authority: pseudo(":authority"),
            headers: &headers,
        };
        let decision = decide(&config, &request, &LocalKeys(&config), now_unix());
        apply(&config, &request, decision)
    }
}

fn now_unix() -> i64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .and_then(|elapsed| i64::try_from(elapsed.as_secs()).ok())
        .unwrap_or(i64::MAX)
}

fn apply(config: &Config, request: &Request<'_>, decision: Decision) -> Action {
    let provider = decision.provider.as_deref().unwrap_or("-");
    match decision.verdict {
        Ok(()) => {
            log::debug!("audgate: allowed ({provider})");
            mutate(&decision.mutations);
            Action::Continue
        }
        Err(rejection) => {
            log::info!(
                "audgate: rejected ({provider}): {rejection} [{}]",
                rejection.code()
            );
            if config.mode == Mode::Audit {
                mutate(&decision.mutations);
                set_header(WOULD_REJECT_HEADER, Some(rejection.code()));
                Action::Continue
            } else {
                reject(rejection, request.authority)
            }
        }
    }
}

fn mutate(mutations: &crate::decision::Mutations) {
    for name in &mutations.remove_headers {
        set_header(name, None);
    }
    for (name, value) in &mutations.set_headers {
        set_header(name, Some(value));
    }
    if let Some(path) = &mutations.path {
        set_header(":path", Some(path));
    }
    if let Some(cookie) = &mutations.cookie {
        set_header("cookie", cookie.as_deref());
    }
}

fn set_header(name: &str, value: Option<&str>) {
    if hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value).is_err() {
        log::warn!("audgate: could not change request header {name}");
    }
}

fn reject(rejection: Rejection, authority: &str) -> Action {
    let challenge = rejection.www_authenticate(authority);
    let mut headers = vec![("content-type", "text/plain; charset=utf-8")];
    if let Some(value) = challenge.as_deref() {
        headers.push(("www-authenticate", value));
    }
    let body = format!("{rejection}\n");
    if hostcalls::send_http_response(rejection.status(), headers, Some(body.as_bytes())).is_err() {
        log::error!("audgate: could not send the local reply");
    }
    Action::Pause
}
