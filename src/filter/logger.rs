//! The `log` facade over the host's `proxy_log`: `log::warn!` and friends reach
//! Envoy's log at the matching level, and only at the levels the host keeps
//! (set from the host's level at configure time).

/// The logger; installed once by [`install`].
struct HostLogger;

static LOGGER: HostLogger = HostLogger;

/// Installs the logger (once per VM) with everything enabled until configure
/// time narrows it to the host's level, and a panic hook that logs the panic
/// at `critical` before the VM traps.
pub fn install() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
    std::panic::set_hook(Box::new(|panic| {
        super::abi::log(5, &format!("audgate: {panic}"));
    }));
}

impl log::Log for HostLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Trace => 0,
            log::Level::Debug => 1,
            log::Level::Info => 2,
            log::Level::Warn => 3,
            log::Level::Error => 4,
        };
        super::abi::log(level, &record.args().to_string());
    }

    fn flush(&self) {}
}
