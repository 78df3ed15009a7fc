//! ACL categories: Redis 7's groups of commands (`@read`, `@write`, `@dangerous`, ...) as a set
//! of bits. Every Redis category is known, so that a pasted Redis ACL line parses; those of
//! data types this service does not have (`@list`, `@stream`, ...) hold no command.

/// A set of categories: bit `i` is `CATEGORY_NAMES[i]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Categories(u32);

impl Categories {
    pub const NONE: Categories = Categories(0);

    const fn bit(index: usize) -> Categories {
        Categories(1 << index)
    }

    /// Both sets.
    pub const fn with(self, other: Categories) -> Categories {
        Categories(self.0 | other.0)
    }

    pub const fn intersects(self, other: Categories) -> bool {
        self.0 & other.0 != 0
    }

    /// The category named `name` (any case, without the `@`), if Redis has it.
    pub fn named(name: &str) -> Option<Categories> {
        CATEGORY_NAMES.iter().position(|known| known.eq_ignore_ascii_case(name)).map(Categories::bit)
    }

    /// The names of the categories in the set, in Redis's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        CATEGORY_NAMES.iter().enumerate().filter(move |(i, _)| self.0 & (1 << i) != 0).map(|(_, name)| *name)
    }
}

/// Every category, in the order `ACL CAT` lists them (Redis 7.0's).
pub const CATEGORY_NAMES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

pub const KEYSPACE: Categories = Categories::bit(0);
pub const READ: Categories = Categories::bit(1);
pub const WRITE: Categories = Categories::bit(2);
pub const HASH: Categories = Categories::bit(6);
pub const STRING: Categories = Categories::bit(7);
pub const ADMIN: Categories = Categories::bit(13);
pub const FAST: Categories = Categories::bit(14);
pub const SLOW: Categories = Categories::bit(15);
pub const DANGEROUS: Categories = Categories::bit(17);
pub const CONNECTION: Categories = Categories::bit(18);
pub const TRANSACTION: Categories = Categories::bit(19);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constants_name_their_categories() {
        for (category, name) in [
            (KEYSPACE, "keyspace"),
            (READ, "read"),
            (WRITE, "write"),
            (HASH, "hash"),
            (STRING, "string"),
            (ADMIN, "admin"),
            (FAST, "fast"),
            (SLOW, "slow"),
            (DANGEROUS, "dangerous"),
            (CONNECTION, "connection"),
            (TRANSACTION, "transaction"),
        ] {
            assert_eq!(Categories::named(name), Some(category));
            assert_eq!(category.names().collect::<Vec<_>>(), [name]);
        }
        assert_eq!(Categories::named("READ"), Some(READ));
        assert_eq!(Categories::named("all"), None);
    }
}
