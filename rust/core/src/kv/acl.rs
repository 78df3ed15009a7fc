//! ACL users, as Redis 6 and 7 have them: a name, on or off, SHA-256 hashes of its passwords
//! (or `nopass`), and the commands it may run, as a bit per row of the command tables
//! ([`CommandSet`]). Keys: all or none (`~*`; other patterns are refused when parsed).
//! [`Users`] is the fixed set a server's sessions share; it always holds `default`, the user
//! every connection starts as. The rule syntax lives in `acl_rules`.

use super::acl_category::Categories;
use super::command::{permission_categories, Cmd, PermissionIndex, COMMANDS, PERMISSION_COUNT, SUBCOMMANDS};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

/// A SHA-256 digest of a password.
pub type PasswordHash = [u8; 32];

/// Why a users table was refused. `field` names the place in the cluster file.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AclError {
    /// A line of `auth.users` is not `user <name> <rules...>`.
    #[error("auth.users[{line}]: {problem}")]
    Line { line: usize, problem: String },
    /// A rule of line `line` was refused.
    #[error("auth.users[{line}]: rule '{rule}': {problem}")]
    Rule { line: usize, rule: String, problem: String },
    #[error("auth.users[{line}]: duplicate user '{name}' (also auth.users[{first}])")]
    DuplicateUser { line: usize, name: String, first: usize },
    #[error("auth.requirepass: {problem}")]
    RequirePass { problem: String },
}

impl AclError {
    /// The cluster file's field at fault, as `auth.users[1]`.
    pub fn field(&self) -> String {
        match self {
            AclError::Line { line, .. } | AclError::Rule { line, .. } | AclError::DuplicateUser { line, .. } => {
                format!("auth.users[{line}]")
            }
            AclError::RequirePass { .. } => "auth.requirepass".to_string(),
        }
    }

    /// What is wrong, without the field.
    pub fn problem(&self) -> String {
        let message = self.to_string();
        let prefix = format!("{}: ", self.field());
        message.strip_prefix(&prefix).unwrap_or(&message).to_string()
    }
}

/// A set of permission indices (`[0, PERMISSION_COUNT)`), one bit each: a `u128`, since
/// the tables hold more than 64 rows (a test of one is then two ANDs and an OR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CommandSet(u128);

const _: () = assert!(PERMISSION_COUNT <= 128);

impl CommandSet {
    pub const EMPTY: CommandSet = CommandSet(0);
    /// Every command and subcommand.
    pub const ALL: CommandSet = CommandSet(u128::MAX >> (128 - PERMISSION_COUNT));
    /// What a connection may run before it authenticates (and any user, whatever its rules):
    /// the commands Redis flags `no-auth`.
    pub const NO_AUTH: CommandSet = CommandSet(
        (1 << Cmd::Auth.index()) | (1 << Cmd::Hello.index()) | (1 << Cmd::Quit.index()) | (1 << Cmd::Reset.index()),
    );

    /// Whether the set holds the bit of `mask` (a `CommandSpec::fast_bit`); false for 0.
    #[inline]
    pub fn holds_bit(self, mask: u128) -> bool {
        self.0 & mask != 0
    }

    #[inline]
    pub fn contains(self, index: PermissionIndex) -> bool {
        self.0 & (1 << index) != 0
    }

    pub fn union(self, other: CommandSet) -> CommandSet {
        CommandSet(self.0 | other.0)
    }

    pub fn minus(self, other: CommandSet) -> CommandSet {
        CommandSet(self.0 & !other.0)
    }

    /// The commands and subcommands of a category.
    pub fn of_category(category: Categories) -> CommandSet {
        let mut set = CommandSet::EMPTY;
        for index in 0..PERMISSION_COUNT {
            if permission_categories(index).intersects(category) {
                set.0 |= 1 << index;
            }
        }
        set
    }

    /// One subcommand, or one command with every subcommand it has.
    pub fn of_command(index: PermissionIndex) -> CommandSet {
        let mut set = CommandSet(1 << index);
        if let Some(spec) = COMMANDS.get(index) {
            for (i, sub) in SUBCOMMANDS.iter().enumerate() {
                if sub.parent == spec.cmd {
                    set.0 |= 1 << (COMMANDS.len() + i);
                }
            }
        }
        set
    }

    /// The commands that name keys: a user without `~*` may run none of them.
    pub fn naming_keys() -> CommandSet {
        let mut set = CommandSet::EMPTY;
        for spec in COMMANDS.iter().filter(|spec| spec.keys) {
            set.0 |= 1 << spec.cmd.index();
        }
        set
    }

    /// The indices in the set, in table order.
    pub fn indices(self) -> impl Iterator<Item = PermissionIndex> {
        (0..PERMISSION_COUNT).filter(move |&index| self.contains(index))
    }
}

/// What a `+`/`-` rule names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleTarget {
    /// `@name` (never `@all`: that resets the rules).
    Category(&'static str),
    /// A command (with its subcommands) or one subcommand.
    Command(PermissionIndex),
}

/// One `+target` or `-target` rule, kept to describe the user as it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandRule {
    pub allow: bool,
    pub target: RuleTarget,
}

/// One user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// `on`: it may authenticate.
    pub enabled: bool,
    /// `nopass`: any password authenticates it.
    pub nopass: bool,
    /// SHA-256 of each password that authenticates it, without duplicates.
    pub password_hashes: Vec<PasswordHash>,
    /// `~*`: it may name any key; without, no command that names a key.
    pub all_keys: bool,
    /// The commands and subcommands its rules allow.
    pub commands: CommandSet,
    /// The rules start from `+@all` (else from `-@all`)...
    pub(crate) from_all: bool,
    /// ...then these, in order, none naming the same target twice.
    pub(crate) rules: Vec<CommandRule>,
}

impl User {
    /// A user as Redis makes a new one: off, no password, no keys, no commands.
    pub fn new(name: &str) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            password_hashes: Vec::new(),
            all_keys: false,
            commands: CommandSet::EMPTY,
            from_all: false,
            rules: Vec::new(),
        }
    }

    /// Redis's default user when none is configured: `on nopass ~* +@all`.
    pub fn open_default() -> User {
        User {
            enabled: true,
            nopass: true,
            all_keys: true,
            commands: CommandSet::ALL,
            from_all: true,
            ..User::new(DEFAULT_USER)
        }
    }

    /// What a session of this user may run: its commands, less those naming keys when it has
    /// no `~*`, plus AUTH, HELLO and QUIT (which Redis never refuses).
    pub fn allowed(&self) -> CommandSet {
        let keyed = if self.all_keys { CommandSet::EMPTY } else { CommandSet::naming_keys() };
        self.commands.minus(keyed).union(CommandSet::NO_AUTH)
    }

    /// Whether `password` authenticates this user (it must also be `on`). Each stored hash is
    /// compared in constant time.
    pub fn accepts(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let candidate = hash_password(password);
        let mut matched = subtle::Choice::from(0);
        for hash in &self.password_hashes {
            matched |= hash.ct_eq(&candidate);
        }
        matched.into()
    }
}

/// The name of the user every connection starts as.
pub const DEFAULT_USER: &str = "default";

/// SHA-256 of `password`, as a Redis ACL file stores it after `#`.
pub fn hash_password(password: &[u8]) -> PasswordHash {
    Sha256::digest(password).into()
}

/// The users of a server, fixed for its life; `default` is always the first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Users {
    users: Vec<User>,
}

impl Default for Users {
    /// Only Redis's default user (`on nopass ~* +@all`): no authentication.
    fn default() -> Users {
        Users { users: vec![User::open_default()] }
    }
}

impl Users {
    /// Users from the lines of a Redis ACL file (`user <name> <rules...>`, see `acl_rules`),
    /// and `requirepass`, a `#<sha256 hex>` that becomes the default user's only password (when
    /// no line names `default`). A `default` the lines do not name is Redis's: `on nopass ~*
    /// +@all`.
    pub fn new<S: AsRef<str>>(lines: &[S], requirepass: Option<&str>) -> Result<Users, AclError> {
        let mut users = vec![User::open_default()];
        let mut lines_of: Vec<(String, usize)> = Vec::new();
        for (line_index, line) in lines.iter().enumerate() {
            let user = super::acl_rules::parse_user_line(line_index, line.as_ref())?;
            if let Some((_, first)) = lines_of.iter().find(|(name, _)| *name == user.name) {
                return Err(AclError::DuplicateUser { line: line_index, name: user.name, first: *first });
            }
            lines_of.push((user.name.clone(), line_index));
            if user.name == DEFAULT_USER {
                users[0] = user;
            } else {
                users.push(user);
            }
        }
        if let Some(hash) = requirepass {
            if lines_of.iter().any(|(name, _)| name == DEFAULT_USER) {
                let problem = "auth.users names the default user too: give its password there".to_string();
                return Err(AclError::RequirePass { problem });
            }
            let hash = super::acl_rules::parse_hash_rule(hash).map_err(|problem| AclError::RequirePass { problem })?;
            users[0].nopass = false;
            users[0].password_hashes = vec![hash];
        }
        Ok(Users { users })
    }

    /// Whether a connection must authenticate before it runs commands: the default user is
    /// off or has passwords.
    pub fn auth_required(&self) -> bool {
        let default = &self.users[0];
        !default.enabled || !default.nopass
    }

    pub fn get(&self, index: usize) -> &User {
        &self.users[index]
    }

    pub fn default_user(&self) -> &User {
        &self.users[0]
    }

    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.users.iter()
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The index of the user `name` if `password` authenticates it.
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<usize> {
        let index = self.users.iter().position(|user| user.name.as_bytes() == name)?;
        self.users[index].accepts(password).then_some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::command::lookup_subcommand;

    fn hex(hash: &PasswordHash) -> String {
        hash.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn passwords_hash_as_redis_acl_files_store_them() {
        // `printf secret | sha256sum`, the hash redis-server 7.0 prints in ACL LIST.
        assert_eq!(hex(&hash_password(b"secret")), "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b");
    }

    #[test]
    fn the_default_users_need_no_authentication() {
        let users = Users::default();
        assert!(!users.auth_required());
        assert_eq!(users.authenticate(b"default", b"anything"), Some(0));
        assert_eq!(users.default_user().allowed(), CommandSet::ALL);
    }

    #[test]
    fn requirepass_gives_the_default_user_its_only_password() {
        let hash = format!("#{}", hex(&hash_password(b"pw")));
        let users = Users::new::<&str>(&[], Some(&hash)).unwrap();
        assert!(users.auth_required());
        assert_eq!(users.authenticate(b"default", b"pw"), Some(0));
        assert_eq!(users.authenticate(b"default", b"pW"), None);
        assert_eq!(users.authenticate(b"nobody", b"pw"), None);
        let err = Users::new(&["user default on nopass"], Some(&hash)).unwrap_err();
        assert_eq!(err.field(), "auth.requirepass");
    }

    #[test]
    fn a_disabled_user_never_authenticates() {
        let users = Users::new(&["user app off nopass ~* +@all"], None).unwrap();
        assert_eq!(users.authenticate(b"app", b""), None);
    }

    #[test]
    fn duplicate_users_are_refused_naming_both_lines() {
        let err = Users::new(&["user a on nopass", "user b on", "user a off"], None).unwrap_err();
        assert_eq!(err, AclError::DuplicateUser { line: 2, name: "a".into(), first: 0 });
        assert_eq!(err.field(), "auth.users[2]");
        assert_eq!(err.problem(), "duplicate user 'a' (also auth.users[0])");
    }

    #[test]
    fn without_all_keys_no_command_that_names_a_key_is_allowed() {
        let users = Users::new(&["user k on nopass +@all"], None).unwrap();
        let allowed = users.get(1).allowed();
        assert!(!allowed.contains(Cmd::Get.index()));
        assert!(allowed.contains(Cmd::Ping.index()));
        assert!(allowed.contains(Cmd::FlushDb.index()));
    }

    #[test]
    fn one_bit_decides_every_command_but_containers_command_and_senate_exec() {
        for spec in &COMMANDS {
            let apart = spec.container || matches!(spec.cmd, Cmd::SenateExec | Cmd::Command);
            let bit = if apart { 0 } else { 1 << spec.cmd.index() };
            assert_eq!(spec.fast_bit, bit, "{}", spec.name);
            assert_eq!(CommandSet::ALL.holds_bit(spec.fast_bit), !apart);
        }
    }

    #[test]
    fn every_user_may_authenticate_again() {
        let users = Users::new(&["user none on nopass ~* nocommands"], None).unwrap();
        let allowed = users.get(1).allowed();
        assert_eq!(allowed, CommandSet::NO_AUTH);
        assert!(!allowed.contains(lookup_subcommand(Cmd::Acl, b"whoami").unwrap()));
    }
}
