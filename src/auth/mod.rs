//! Identity: roles and the secret tokens behind sessions, links and API keys.

pub mod csrf;
pub mod current;
pub mod flows;
pub mod forwarded;
pub mod mfa;
pub mod passkeys;
pub mod password;
pub mod session;
pub mod signin;
pub mod tokens;
pub mod totp;

use std::fmt;
use std::str::FromStr;

/// A practice user's role. Ordered: `Owner > Admin > Viewer > Auditor`, so
/// a check is `role >= Role::Admin`. An auditor (an outside reader with a
/// time-limited grant, `src/auditors.rs`) ranks lowest: everything that
/// asks for a viewer refuses an auditor unless it lets auditors in by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Auditor,
    Viewer,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Auditor => "auditor",
            Role::Viewer => "viewer",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role {0:?}: expected owner, admin, viewer or auditor")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            "auditor" => Ok(Role::Auditor),
            _ => Err(UnknownRole(s.to_owned())),
        }
    }
}

/// What an API token may do. `read`: GET requests and the four evidence
/// checks (`verify_bundle`, `verify_chain`, `verify_log`,
/// `verify_log_checkpoint`); any other change answers 403. `write`: also
/// the changes the user's role allows (notifications, email preferences,
/// audit packs and exports). No token, whatever its scope, manages users,
/// roles, invitations, auditor grants, tokens, sessions, passwords,
/// sign-in methods (MFA and its policy) or transfers: those answer 403 and
/// need a browser session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, poem_openapi::Enum)]
#[oai(rename = "TokenScope", rename_all = "lowercase")]
pub enum Scope {
    #[default]
    Read,
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown token scope {0:?}: expected read or write")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            _ => Err(UnknownScope(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_owner_admin_viewer_auditor() {
        assert!(Role::Owner > Role::Admin && Role::Admin > Role::Viewer);
        assert!(Role::Viewer > Role::Auditor);
        assert_eq!("auditor".parse::<Role>().unwrap(), Role::Auditor);
        assert_eq!("Admin".parse::<Role>().unwrap(), Role::Admin);
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .to_string()
                .contains("owner, admin, viewer or auditor")
        );
    }

    #[test]
    fn scopes_parse_exactly_and_default_to_read() {
        assert_eq!(Scope::default(), Scope::Read);
        assert_eq!("write".parse::<Scope>().unwrap(), Scope::Write);
        assert!("Write".parse::<Scope>().is_err());
        assert!("admin".parse::<Scope>().unwrap_err().to_string().contains("read or write"));
    }
}
