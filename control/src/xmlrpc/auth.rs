//! Who may call: HTTP Basic credentials checked against the config's local users, and a
//! per-address limit on failed logins. Sans-IO: the caller passes the time.
//!
//! As pfSense 2.4+ (reference §1.3): the user must exist in `<system><user>`, not be
//! `<disabled/>`, and the password must match its `<bcrypt-hash>`; then it must be the
//! admin account (uid 0) or hold the privilege `system-xmlrpc-ha-sync` ("System - HA node
//! sync"), itself or through a group (`page-all` does not imply it). Failures are pfSense's
//! faults -1 (bad credentials) and -2 (missing privilege).
//!
//! Differences: only local users are checked (no LDAP/RADIUS), and only bcrypt hashes
//! (pfSense's default; a user with only a `<sha512-hash>` cannot log in here, which is
//! logged). pfSense lets an authenticated user *without* a local `uid` through the
//! privilege check; rampart requires uid 0 or the privilege. An unknown user costs the same
//! bcrypt work as a wrong password, so response time does not tell which names exist.
//!
//! [`LoginGuard`] is rampart's stand-in for pfSense's sshguard: after
//! [`LoginLimits::max_failures`] failed logins from one address within
//! [`LoginLimits::window`], that address is refused without checking for
//! [`LoginLimits::lockout`]. Remember that a pfSense primary tries each call 4 times.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::config::{System, User};
use rampart_dataplane::time::Instant;

/// The privilege that allows XMLRPC sync calls.
pub const HA_SYNC_PRIVILEGE: &str = "system-xmlrpc-ha-sync";

/// A bcrypt hash (cost 10) of a random string, checked against when the user does not
/// exist so that the answer takes as long as for a wrong password.
const DUMMY_HASH: &str = "$2b$10$TqkIS0IbLWHihMoMzRqB9.oLgukV3EWhW8ZDoLkTFBafkhqii6fIK";

/// A user name and password from an `Authorization: Basic` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl Credentials {
    /// Credentials from a name and a password.
    #[must_use]
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// Parses the value of an `Authorization` header: `Basic base64(user:password)` (scheme
    /// case-insensitive; the password is everything after the first `:`). `None` when it is
    /// another scheme, not base64, not UTF-8 or has no `:`.
    #[must_use]
    pub fn from_basic_header(value: &[u8]) -> Option<Self> {
        let value = std::str::from_utf8(value).ok()?.trim();
        let (scheme, encoded) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = STANDARD.decode(encoded.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':')?;
        Some(Self::new(user, password))
    }

    /// The `Authorization` header value for these credentials.
    #[must_use]
    pub fn to_basic_header(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No credentials, or an empty name or password.
    #[error("no credentials")]
    Missing,
    /// No local user of that name.
    #[error("unknown user")]
    UnknownUser,
    /// The user is disabled.
    #[error("user is disabled")]
    Disabled,
    /// The password does not match.
    #[error("wrong password")]
    BadPassword,
    /// The user has no bcrypt hash (e.g. only a SHA-512 crypt one).
    #[error("user has no bcrypt password hash")]
    UnsupportedHash,
    /// Authenticated, but neither uid 0 nor the HA-sync privilege.
    #[error("not enough privileges")]
    NoPrivilege,
    /// Too many failures from this address.
    #[error("too many failed logins; locked for {} s more", retry_after.as_secs())]
    LockedOut {
        /// Time left.
        retry_after: Duration,
    },
}

impl AuthFailure {
    /// Whether this counts as a failed login (everything but a missing privilege and a
    /// lockout, which are not password guesses).
    #[must_use]
    pub fn counts_as_failure(&self) -> bool {
        !matches!(self, Self::NoPrivilege | Self::LockedOut { .. })
    }
}

/// Whether `user` holds `privilege`, itself or through a group.
#[must_use]
pub fn has_privilege(system: &System, user: &User, privilege: &str) -> bool {
    user.privs.iter().any(|p| p == privilege)
        || system
            .groups_of(user)
            .any(|g| g.privs.iter().any(|p| p == privilege))
}

/// Checks `creds` against the local users of `system` (see the module docs).
///
/// # Errors
/// The [`AuthFailure`] that stopped the login.
pub fn authenticate<'a>(
    system: &'a System,
    creds: Option<&Credentials>,
) -> Result<&'a User, AuthFailure> {
    let Some(creds) = creds.filter(|c| !c.username.is_empty() && !c.password.is_empty()) else {
        return Err(AuthFailure::Missing);
    };
    let Some(user) = system.user(&creds.username) else {
        // Same work as a real check.
        let _ = bcrypt::verify(&creds.password, DUMMY_HASH);
        return Err(AuthFailure::UnknownUser);
    };
    let Some(hash) = user.bcrypt_hash.as_deref() else {
        return Err(AuthFailure::UnsupportedHash);
    };
    if !bcrypt::verify(&creds.password, hash).unwrap_or(false) {
        return Err(AuthFailure::BadPassword);
    }
    if user.disabled {
        return Err(AuthFailure::Disabled);
    }
    if user.uid == Some(0) || has_privilege(system, user, HA_SYNC_PRIVILEGE) {
        Ok(user)
    } else {
        Err(AuthFailure::NoPrivilege)
    }
}

/// Limits of [`LoginGuard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failed logins from one address that trigger a lockout.
    pub max_failures: u32,
    /// The window they are counted in.
    pub window: Duration,
    /// How long the address is then refused.
    pub lockout: Duration,
    /// Addresses tracked at most (the oldest entries are forgotten first).
    pub max_tracked: usize,
}

impl Default for LoginLimits {
    /// 10 failures in 10 minutes lock the address out for 5 minutes: two or three syncs
    /// from a primary with a wrong password (4 attempts each).
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: Duration::from_secs(600),
            lockout: Duration::from_secs(300),
            max_tracked: 4096,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
}

/// Counts failed logins per address and locks out the ones with too many.
#[derive(Debug, Clone, Default)]
pub struct LoginGuard {
    limits: LoginLimits,
    entries: HashMap<IpAddr, Entry>,
}

impl LoginGuard {
    /// A guard with `limits`.
    #[must_use]
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            limits,
            entries: HashMap::new(),
        }
    }

    /// The limits.
    #[must_use]
    pub fn limits(&self) -> LoginLimits {
        self.limits
    }

    /// Whether `peer` may try to log in at `now`.
    ///
    /// # Errors
    /// The time left when `peer` is locked out.
    pub fn check(&mut self, peer: IpAddr, now: Instant) -> Result<(), Duration> {
        match self.entries.get(&peer).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(until - now),
            Some(_) => {
                // The lockout is over: start afresh.
                self.entries.remove(&peer);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Records a failed login; returns the lockout it triggered, if any.
    pub fn failure(&mut self, peer: IpAddr, now: Instant) -> Option<Duration> {
        if !self.entries.contains_key(&peer) && self.entries.len() >= self.limits.max_tracked {
            self.forget_oldest(now);
        }
        let limits = self.limits;
        let entry = self.entries.entry(peer).or_insert(Entry {
            failures: 0,
            window_start: now,
            locked_until: None,
        });
        if now - entry.window_start > limits.window {
            entry.failures = 0;
            entry.window_start = now;
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures >= limits.max_failures {
            entry.locked_until = Some(now + limits.lockout);
            Some(limits.lockout)
        } else {
            None
        }
    }

    /// Records a successful login: the address's count starts again.
    pub fn success(&mut self, peer: IpAddr) {
        self.entries.remove(&peer);
    }

    /// Addresses currently tracked.
    #[must_use]
    pub fn tracked(&self) -> usize {
        self.entries.len()
    }

    fn forget_oldest(&mut self, now: Instant) {
        let window = self.limits.window;
        // Expired windows and finished lockouts first, then the oldest window.
        self.entries.retain(|_, e| match e.locked_until {
            Some(until) => until > now,
            None => now - e.window_start <= window,
        });
        if self.entries.len() >= self.limits.max_tracked
            && let Some(oldest) = self
                .entries
                .iter()
                .filter(|(_, e)| e.locked_until.is_none())
                .min_by_key(|(_, e)| e.window_start)
                .map(|(ip, _)| *ip)
        {
            self.entries.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Group, User};

    /// Cost 4 keeps the tests fast.
    fn hash(password: &str) -> String {
        bcrypt::hash(password, 4).unwrap()
    }

    fn system() -> System {
        let user = |name: &str, uid: u32, privs: &[&str]| User {
            name: name.into(),
            uid: Some(uid),
            bcrypt_hash: Some(hash("secret")),
            privs: privs.iter().map(|p| (*p).to_owned()).collect(),
            ..User::default()
        };
        System {
            users: vec![
                user("admin", 0, &[]),
                user("sync", 2000, &[HA_SYNC_PRIVILEGE]),
                user("viagroup", 2001, &[]),
                user("web", 2002, &["page-all"]),
                User {
                    disabled: true,
                    ..user("off", 2003, &[HA_SYNC_PRIVILEGE])
                },
                User {
                    bcrypt_hash: None,
                    sha512_hash: Some("$6$x".into()),
                    ..user("sha", 2004, &[HA_SYNC_PRIVILEGE])
                },
            ],
            groups: vec![Group {
                name: "ha".into(),
                members: vec![2001],
                privs: vec![HA_SYNC_PRIVILEGE.into()],
                ..Group::default()
            }],
            ..System::default()
        }
    }

    #[test]
    fn test_authenticate() {
        let s = system();
        let c = |u: &str, p: &str| Credentials::new(u, p);
        assert_eq!(
            authenticate(&s, Some(&c("admin", "secret"))).unwrap().name,
            "admin"
        );
        assert!(authenticate(&s, Some(&c("sync", "secret"))).is_ok());
        assert!(authenticate(&s, Some(&c("viagroup", "secret"))).is_ok());
        assert_eq!(
            authenticate(&s, Some(&c("web", "secret"))),
            Err(AuthFailure::NoPrivilege)
        );
        assert_eq!(
            authenticate(&s, Some(&c("admin", "wrong"))),
            Err(AuthFailure::BadPassword)
        );
        assert_eq!(
            authenticate(&s, Some(&c("nobody", "secret"))),
            Err(AuthFailure::UnknownUser)
        );
        assert_eq!(
            authenticate(&s, Some(&c("off", "secret"))),
            Err(AuthFailure::Disabled)
        );
        assert_eq!(
            authenticate(&s, Some(&c("sha", "secret"))),
            Err(AuthFailure::UnsupportedHash)
        );
        assert_eq!(
            authenticate(&s, Some(&c("admin", ""))),
            Err(AuthFailure::Missing)
        );
        assert_eq!(authenticate(&s, None), Err(AuthFailure::Missing));
    }

    #[test]
    fn test_pfsense_factory_hash() {
        // The published factory-default admin hash (password "pfsense"), cost 10, $2b$.
        let h = "$2b$10$13u6qwCOwODv34GyCMgdWub6oQF3RX0rG7c3d3X4JvzuEmAXLYDd2";
        assert!(bcrypt::verify("pfsense", h).unwrap());
        // PHP's password_hash writes $2y$, which is the same algorithm.
        let y = h.replacen("$2b$", "$2y$", 1);
        assert!(bcrypt::verify("pfsense", &y).unwrap());
        assert!(bcrypt::verify("x", DUMMY_HASH).is_ok());
    }

    #[test]
    fn test_basic_header() {
        let c = Credentials::new("admin", "p:a ss");
        let h = c.to_basic_header();
        assert_eq!(
            Credentials::from_basic_header(h.as_bytes()),
            Some(c.clone())
        );
        assert_eq!(
            Credentials::from_basic_header(b"basic YWRtaW46czNjcjN0"),
            Some(Credentials::new("admin", "s3cr3t"))
        );
        for bad in [
            &b"Bearer abc"[..],
            b"Basic !!!",
            b"Basic YWRtaW4=",
            b"",
            b"\xff",
        ] {
            assert_eq!(Credentials::from_basic_header(bad), None);
        }
        assert!(!format!("{c:?}").contains("ss"));
    }

    #[test]
    fn test_login_guard() {
        let limits = LoginLimits {
            max_failures: 3,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(30),
            max_tracked: 2,
        };
        let mut g = LoginGuard::new(limits);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t = Instant::from_secs(100);
        assert_eq!(g.failure(a, t), None);
        assert_eq!(g.failure(a, t), None);
        // A failure outside the window starts a new count.
        assert_eq!(g.failure(a, Instant::from_secs(200)), None);
        assert_eq!(g.failure(a, Instant::from_secs(201)), None);
        assert_eq!(
            g.failure(a, Instant::from_secs(202)),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            g.check(a, Instant::from_secs(212)),
            Err(Duration::from_secs(20))
        );
        assert_eq!(g.check(b, Instant::from_secs(212)), Ok(()));
        assert_eq!(g.check(a, Instant::from_secs(232)), Ok(()));
        assert_eq!(g.failure(a, Instant::from_secs(233)), None);
        g.success(a);
        assert_eq!(g.tracked(), 0);
        // The table stays bounded.
        for i in 0..10u8 {
            g.failure(IpAddr::from([10, 0, 0, i]), Instant::from_secs(300));
        }
        assert!(g.tracked() <= 2);
    }
}
