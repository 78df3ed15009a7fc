//! The Redis ACL rule syntax, the subset this service enforces: a line of a Redis ACL file
//! (`user app on #<sha256 hex> ~* +@read +@write -@dangerous`) becomes a [`User`], and
//! [`describe`] writes a user back as such a line (what `ACL LIST` answers), which parses to
//! the same user.
//!
//! Rules: `on`, `off`, `#<hex>`, `nopass`, `resetpass`, `~*` and `allkeys`, `resetkeys`,
//! `+@category`, `-@category`, `+command`, `-command`, `+command|subcommand`,
//! `-command|subcommand`, `allcommands` (`+@all`), `nocommands` (`-@all`), `reset`. Channel
//! rules (`&*`, `allchannels`, `resetchannels`) are taken and mean nothing: there is no
//! pub/sub. Refused with a reason: plain-text passwords (`>`, `<`: store the hash), key
//! patterns other than all keys, selectors, unknown commands and categories.

use super::acl::{AclError, CommandRule, CommandSet, PasswordHash, RuleTarget, User};
use super::acl_category::{Categories, CATEGORY_NAMES};
use super::command::{lookup, lookup_subcommand, permission_name, Cmd, COMMANDS};

const PLAIN_TEXT: &str = "plain-text passwords are not stored: give the SHA-256 as #<hex> (`senate passwd` prints it)";
const KEY_PATTERNS: &str = "only all keys are supported: use ~* (or allkeys)";

/// Line `line_index` of a users table: `user <name> <rules...>`, rules applied in order to a
/// new user (off, no password, no keys, no commands).
pub fn parse_user_line(line_index: usize, line: &str) -> Result<User, AclError> {
    let mut words = line.split_ascii_whitespace();
    let problem = match (words.next(), words.next()) {
        (Some(word), Some(name)) if word.eq_ignore_ascii_case("user") => {
            if !name.bytes().all(|b| b.is_ascii_graphic()) {
                "a user name is printable ASCII"
            } else {
                let mut user = User::new(name);
                for rule in words {
                    user.apply_rule(rule).map_err(|problem| AclError::Rule {
                        line: line_index,
                        rule: rule.to_string(),
                        problem,
                    })?;
                }
                return Ok(user);
            }
        }
        _ => "expected 'user <name> <rules...>', as a line of a Redis ACL file",
    };
    Err(AclError::Line { line: line_index, problem: problem.to_string() })
}

/// The hash of a `#<64 hex digits>` rule.
pub fn parse_hash_rule(rule: &str) -> Result<PasswordHash, String> {
    if rule.starts_with('>') || rule.starts_with('<') {
        return Err(PLAIN_TEXT.to_string());
    }
    let Some(hex) = rule.strip_prefix('#') else {
        return Err("expected #<sha256 hex> (`senate passwd` prints it)".to_string());
    };
    let digits = hex.as_bytes();
    if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err("a password hash is # and 64 hex digits (a SHA-256)".to_string());
    }
    let mut hash = [0u8; 32];
    for (byte, pair) in hash.iter_mut().zip(digits.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).map_err(|_| "not hex".to_string())?;
        *byte = u8::from_str_radix(text, 16).map_err(|_| "not hex".to_string())?;
    }
    Ok(hash)
}

impl User {
    /// Applies one rule; a refused rule changes nothing and says why.
    pub fn apply_rule(&mut self, rule: &str) -> Result<(), String> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.password_hashes.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.password_hashes.clear();
            }
            "~*" | "allkeys" => self.all_keys = true,
            "resetkeys" => self.all_keys = false,
            "allchannels" | "resetchannels" => {}
            "allcommands" | "+@all" => self.reset_commands(true),
            "nocommands" | "-@all" => self.reset_commands(false),
            "reset" => {
                *self = User::new(&self.name);
            }
            "clearselectors" => return Err("selectors are not supported".to_string()),
            _ => return self.apply_prefixed(rule),
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, rule: &str) -> Result<(), String> {
        let Some(&first) = rule.as_bytes().first() else { return Err("empty rule".to_string()) };
        match first {
            b'#' | b'>' | b'<' => {
                let hash = parse_hash_rule(rule)?;
                self.nopass = false;
                if !self.password_hashes.contains(&hash) {
                    self.password_hashes.push(hash);
                }
                Ok(())
            }
            b'~' | b'%' => Err(KEY_PATTERNS.to_string()),
            b'&' => Ok(()),
            b'(' => Err("selectors are not supported".to_string()),
            b'+' | b'-' => {
                let allow = rule.starts_with('+');
                let (target, set) = parse_target(&rule[1..])?;
                self.commands = if allow { self.commands.union(set) } else { self.commands.minus(set) };
                self.rules.retain(|kept| kept.target != target);
                self.rules.push(CommandRule { allow, target });
                Ok(())
            }
            _ => Err("unknown rule".to_string()),
        }
    }

    fn reset_commands(&mut self, all: bool) {
        self.commands = if all { CommandSet::ALL } else { CommandSet::EMPTY };
        self.from_all = all;
        self.rules.clear();
    }
}

/// What a `+`/`-` rule names (without its sign), and the commands it covers.
fn parse_target(name: &str) -> Result<(RuleTarget, CommandSet), String> {
    if let Some(category) = name.strip_prefix('@') {
        let Some(bits) = Categories::named(category) else {
            return Err(format!("unknown category '{category}'"));
        };
        let canonical = CATEGORY_NAMES.iter().find(|known| known.eq_ignore_ascii_case(category));
        let canonical = canonical.copied().unwrap_or_default();
        return Ok((RuleTarget::Category(canonical), CommandSet::of_category(bits)));
    }
    let (command, subcommand) = match name.split_once('|') {
        Some((command, subcommand)) => (command, Some(subcommand)),
        None => (name, None),
    };
    let Some(spec) = lookup(command.as_bytes()) else {
        return Err(format!("unknown command '{command}'"));
    };
    let index = match subcommand {
        None => spec.cmd.index(),
        Some(subcommand) => {
            let found = lookup_subcommand(spec.cmd, subcommand.as_bytes());
            found.ok_or_else(|| format!("unknown subcommand '{}|{subcommand}'", spec.name))?
        }
    };
    Ok((RuleTarget::Command(index), CommandSet::of_command(index)))
}

/// The user as a line of a Redis ACL file, as `ACL LIST` shows it: `user <name> on|off
/// [nopass] [#<hex>...] [~*] -@all|+@all <rules...>`.
pub fn describe(user: &User) -> String {
    let mut line = format!("user {} {}", user.name, if user.enabled { "on" } else { "off" });
    if user.nopass {
        line.push_str(" nopass");
    }
    for hash in &user.password_hashes {
        line.push_str(" #");
        for byte in hash {
            line.push_str(&format!("{byte:02x}"));
        }
    }
    if user.all_keys {
        line.push_str(" ~*");
    }
    line.push_str(if user.from_all { " +@all" } else { " -@all" });
    for rule in &user.rules {
        line.push(' ');
        line.push(if rule.allow { '+' } else { '-' });
        match rule.target {
            RuleTarget::Category(name) => {
                line.push('@');
                line.push_str(name);
            }
            RuleTarget::Command(index) => line.push_str(&permission_name(index)),
        }
    }
    line
}

/// The commands of a category as `ACL CAT <category>` lists them: commands by name,
/// subcommands as `command|subcommand`.
pub fn category_commands(category: Categories) -> Vec<String> {
    let set = CommandSet::of_category(category);
    set.indices().map(permission_name).collect()
}

// The container rows hold no categories of their own: `ACL CAT` never lists them alone.
const _: () = assert!(COMMANDS[Cmd::Client.index()].container && COMMANDS[Cmd::Acl.index()].container);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::acl::Users;
    use crate::kv::acl_category::DANGEROUS;
    use proptest::prelude::*;

    const HASH: &str = "#2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

    fn user(line: &str) -> User {
        parse_user_line(0, line).unwrap()
    }

    fn refused(line: &str) -> String {
        match parse_user_line(3, line).unwrap_err() {
            AclError::Rule { line: 3, problem, .. } | AclError::Line { line: 3, problem } => problem,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_app_user_reads_and_writes_but_runs_nothing_dangerous() {
        let app = user(&format!("user app on {HASH} ~* +@read +@write -@dangerous"));
        assert!(app.enabled && !app.nopass && app.all_keys);
        assert!(app.commands.contains(Cmd::Get.index()));
        assert!(app.commands.contains(Cmd::Set.index()));
        assert!(!app.commands.contains(Cmd::FlushDb.index()));
        assert!(!app.commands.contains(Cmd::Keys.index()));
        assert!(!app.commands.contains(Cmd::Ping.index()));
        assert_eq!(describe(&app), format!("user app on {HASH} ~* -@all +@read +@write -@dangerous"));
    }

    #[test]
    fn subcommands_have_rules_of_their_own() {
        let u = user("user u on nopass ~* +@all -client|list");
        assert!(!u.commands.contains(lookup_subcommand(Cmd::Client, b"list").unwrap()));
        assert!(u.commands.contains(lookup_subcommand(Cmd::Client, b"id").unwrap()));
        let admin = user("user a on nopass +acl");
        assert!(admin.commands.contains(lookup_subcommand(Cmd::Acl, b"list").unwrap()));
        assert_eq!(describe(&admin), "user a on nopass -@all +acl");
    }

    #[test]
    fn reset_and_allcommands_start_the_rules_again() {
        let u = user("user u on nopass +get -@all +set allcommands -flushdb +flushdb");
        assert_eq!(describe(&u), "user u on nopass +@all +flushdb");
        let r = user("user r on nopass ~* +@all reset");
        assert_eq!(r, User::new("r"));
    }

    #[test]
    fn refused_rules_say_why() {
        assert!(refused("user u >secret").contains("senate passwd"));
        assert!(refused("user u ~app:*").contains("only all keys"));
        assert!(refused("user u %R~*").contains("only all keys"));
        assert_eq!(refused("user u +@nope"), "unknown category 'nope'");
        assert_eq!(refused("user u +lpush"), "unknown command 'lpush'");
        assert_eq!(refused("user u +client|kill"), "unknown subcommand 'client|kill'");
        assert_eq!(refused("user u #abc"), "a password hash is # and 64 hex digits (a SHA-256)");
        assert_eq!(refused("user u (+get)"), "selectors are not supported");
        assert_eq!(refused("user u whatever"), "unknown rule");
        assert!(refused("users u on").starts_with("expected 'user <name>"));
        assert!(refused("user").starts_with("expected 'user <name>"));
    }

    #[test]
    fn channel_rules_are_taken_and_mean_nothing() {
        assert_eq!(user("user u on nopass &* resetchannels allchannels &news"), user("user u on nopass"));
    }

    #[test]
    fn categories_list_redis_7_commands() {
        let dangerous = category_commands(DANGEROUS);
        for name in ["flushdb", "keys", "info", "config|get", "acl|list", "client|list"] {
            assert!(dangerous.iter().any(|c| c == name), "{name} in {dangerous:?}");
        }
        assert!(!dangerous.iter().any(|c| c == "get" || c == "acl|whoami"));
    }

    fn rule() -> impl Strategy<Value = String> {
        let fixed = [
            "on",
            "off",
            "nopass",
            "resetpass",
            "~*",
            "allkeys",
            "resetkeys",
            "allcommands",
            "nocommands",
            "reset",
            "+@all",
            "-@all",
            "&*",
            "resetchannels",
            HASH,
            "#0000000000000000000000000000000000000000000000000000000000000000",
        ];
        let names: Vec<String> = CATEGORY_NAMES
            .iter()
            .map(|c| format!("@{c}"))
            .chain((0..crate::kv::command::PERMISSION_COUNT).map(permission_name))
            .collect();
        prop_oneof![
            proptest::sample::select(fixed.to_vec()).prop_map(str::to_string),
            (any::<bool>(), proptest::sample::select(names))
                .prop_map(|(allow, name)| format!("{}{name}", if allow { '+' } else { '-' })),
        ]
    }

    proptest! {
        #[test]
        fn acl_list_lines_parse_back_to_the_same_user(rules in proptest::collection::vec(rule(), 0..24)) {
            let line = format!("user u {}", rules.join(" "));
            let parsed = user(&line);
            let described = describe(&parsed);
            let again = user(&described);
            prop_assert_eq!(&again, &parsed, "{} -> {}", line, described);
            prop_assert_eq!(describe(&again), described);
        }

        #[test]
        fn random_lines_never_panic(line in ".{0,200}", words in proptest::collection::vec("[-+~#&%@|a-z*>(]{0,12}", 0..12)) {
            let _ = parse_user_line(0, &line);
            let _ = Users::new(&[format!("user x {}", words.join(" "))], None);
            let _ = parse_hash_rule(&line);
        }
    }
}
