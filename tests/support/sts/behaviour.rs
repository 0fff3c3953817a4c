//! How the STS answers `POST /token` besides exchanging: an override the test
//! sets (refuse, fail, garbage, a given body), a stall before answering, and the
//! soak's faults on every n-th request.

use std::time::Duration;

use serde_json::Value;

/// What a `POST /token` gets instead of (or before) a real exchange.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// The real exchange.
    Normal,
    /// 400 with this OAuth error.
    Refuse(String),
    /// This status with a plain-text body.
    Fail(u16),
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with exactly this JSON body.
    Answer(Value),
}

/// One fault of `Sts::fault_every`.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// 400 with this OAuth error (e.g. `invalid_grant`).
    Refuse(String),
    /// This status (e.g. 503) with a plain-text body.
    Fail(u16),
    /// Wait this long, then answer as otherwise (past the caller's timeout).
    Stall(Duration),
}

impl Fault {
    /// The soak's rotation: `invalid_grant`, then 503, then a stall one second
    /// past `timeout`.
    pub fn rotation(timeout: Duration) -> Vec<Fault> {
        vec![
            Fault::Refuse("invalid_grant".into()),
            Fault::Fail(503),
            Fault::Stall(timeout + Duration::from_secs(1)),
        ]
    }
}

/// How the next request is answered: after `wait`, as `mode` says.
#[derive(Debug)]
pub struct Next {
    pub wait: Duration,
    pub mode: Mode,
    /// The fault of `fault_every` whose turn it is, if any.
    pub fault: Option<Fault>,
}

/// The current behaviour; `Default` is normal.
#[derive(Debug)]
pub struct Behaviour {
    pub mode: Mode,
    pub stall: Duration,
    /// Every `every`-th request (0: none) gets the next of `faults`.
    every: usize,
    faults: Vec<Fault>,
    /// Requests seen since `fault_every`.
    seen: usize,
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour {
            mode: Mode::Normal,
            stall: Duration::ZERO,
            every: 0,
            faults: Vec::new(),
            seen: 0,
        }
    }
}

impl Behaviour {
    /// Every `n`-th request from now on gets the next of `faults`, in turn.
    pub fn fault_every(&mut self, n: usize, faults: Vec<Fault>) {
        (self.every, self.faults, self.seen) = (n, faults, 0);
    }

    /// The wait, the answer and the fault (if its turn has come) of the next
    /// request: a fault's answer, else the mode, after the stall.
    pub fn next(&mut self) -> Next {
        let plain = Next {
            wait: self.stall,
            mode: self.mode.clone(),
            fault: None,
        };
        if self.every == 0 || self.faults.is_empty() {
            return plain;
        }
        self.seen += 1;
        if !self.seen.is_multiple_of(self.every) {
            return plain;
        }
        let turn = (self.seen / self.every - 1) % self.faults.len();
        let fault = self.faults[turn].clone();
        let (wait, mode) = match &fault {
            Fault::Refuse(error) => (self.stall, Mode::Refuse(error.clone())),
            Fault::Fail(status) => (self.stall, Mode::Fail(*status)),
            Fault::Stall(wait) => (self.stall + *wait, self.mode.clone()),
        };
        Next {
            wait,
            mode,
            fault: Some(fault),
        }
    }
}
