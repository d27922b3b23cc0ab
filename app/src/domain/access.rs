//! Action groups, roles, users, tokens and audit entries as the API shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The shipped role holding every action group; nobody may take it from themselves.
pub const SUPER_USER: &str = "SuperUser";

/// A permission: what a role lets its holders do.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionGroup {
    /// Add and end external jobs and steps (one's own).
    InjectExternalTasks,
    /// Read jobs, steps and events.
    ViewTasks,
    /// Invoke internal commands.
    RunInternalCommands,
    /// End, clear and force any job; bulk actions; retention.
    ManageTasks,
    /// Users, roles and tokens; the audit log.
    ManageUsers,
}

impl ActionGroup {
    pub const ALL: [ActionGroup; 5] = [
        ActionGroup::InjectExternalTasks,
        ActionGroup::ViewTasks,
        ActionGroup::RunInternalCommands,
        ActionGroup::ManageTasks,
        ActionGroup::ManageUsers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionGroup::InjectExternalTasks => "INJECT_EXTERNAL_TASKS",
            ActionGroup::ViewTasks => "VIEW_TASKS",
            ActionGroup::RunInternalCommands => "RUN_INTERNAL_COMMANDS",
            ActionGroup::ManageTasks => "MANAGE_TASKS",
            ActionGroup::ManageUsers => "MANAGE_USERS",
        }
    }

    pub fn parse(s: &str) -> Option<ActionGroup> {
        ActionGroup::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

impl std::fmt::Display for ActionGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The signed-in user, as the UI sees itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub id: Uuid,
    pub username: String,
    pub action_groups: Vec<ActionGroup>,
}

impl Me {
    pub fn can(&self, group: ActionGroup) -> bool {
        self.action_groups.contains(&group)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub disabled: bool,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// The engine's own user (`stepwise-engine`), which owns the jobs the engine starts by itself:
    /// nobody signs in as it, and it cannot be changed.
    #[serde(default)]
    pub builtin: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Role {
    pub name: String,
    pub action_groups: Vec<ActionGroup>,
    /// Shipped with Stepwise.
    pub builtin: bool,
}

/// A long-lived API token; `token` (the secret) only in the answer that created it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub user_id: Uuid,
    pub username: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct NewUser {
    /// 1 to 100 letters, digits, `.`, `_` or `-`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,100}$")]
    pub username: String,
    /// 8 to 1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct NewPassword {
    /// 8 to 1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct NewRole {
    /// A letter, then up to 63 characters in all of letters, digits, `_` or `-`.
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9_-]{0,62}$")]
    pub name: String,
    pub action_groups: Vec<ActionGroup>,
}

/// `PUT /api/roles/{role_name}`: the role's whole new set of permissions.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct RolePermissions {
    pub action_groups: Vec<ActionGroup>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct NewApiToken {
    /// 1 to 200 characters after trimming; no NUL.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000]*\\S[^\\u0000]*$"
    )]
    pub name: String,
    /// The user the token acts as; the caller when absent (and `username` too).
    #[serde(default)]
    pub user_id: Option<Uuid>,
    /// The same user by user name (`backup-plugin`, or `backup-plugin@internal`), the name a token
    /// shows; with `user_id` too, both must name the same user.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,100}(@internal)?$")]
    pub username: Option<String>,
}

/// Check a new user name: 1..=100 of `[A-Za-z0-9._-]`.
pub fn check_username(name: &str) -> Result<&str, String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(name)
    } else {
        Err("must be 1 to 100 letters, digits, '.', '_' or '-'".into())
    }
}

/// Check a new password: 8..=1024 characters.
pub fn check_password(password: &str) -> Result<&str, String> {
    let n = password.chars().count();
    if (8..=1024).contains(&n) {
        Ok(password)
    } else {
        Err("must be 8 to 1024 characters".into())
    }
}
