//! Glob matching as Redis's `stringmatchlen`: `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x`.

/// Whether `string` matches `pattern`; `nocase` compares ASCII letters case-insensitively.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    // Bounds the backtracking of many stars (Redis limits recursion the same way).
    let mut budget: u32 = 1_000_000;
    matches(pattern, string, nocase, &mut budget)
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

fn matches(mut p: &[u8], mut s: &[u8], nocase: bool, budget: &mut u32) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    while let Some(&c) = p.first() {
        match c {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                for start in 0..=s.len() {
                    if matches(&p[1..], &s[start..], nocase, budget) {
                        return true;
                    }
                    if *budget == 0 {
                        return false;
                    }
                }
                return false;
            }
            b'?' => {
                if s.is_empty() {
                    return false;
                }
                s = &s[1..];
                p = &p[1..];
            }
            b'[' => {
                let Some(&sc) = s.first() else { return false };
                let (matched, rest) = class_match(&p[1..], sc, nocase);
                if !matched {
                    return false;
                }
                p = rest;
                s = &s[1..];
            }
            _ => {
                let (lit, rest) = if c == b'\\' && p.len() >= 2 { (p[1], &p[2..]) } else { (c, &p[1..]) };
                match s.first() {
                    Some(&sc) if eq(lit, sc, nocase) => {}
                    _ => return false,
                }
                s = &s[1..];
                p = rest;
            }
        }
    }
    s.is_empty()
}

/// Matches `c` against the class whose body starts at `p` (after `[`); returns the result
/// and the pattern after the closing `]` (or its end, as Redis treats an unclosed class).
fn class_match(mut p: &[u8], c: u8, nocase: bool) -> (bool, &[u8]) {
    let negate = p.first() == Some(&b'^');
    if negate {
        p = &p[1..];
    }
    let mut found = false;
    loop {
        match p {
            [] => break,
            [b']', rest @ ..] => {
                p = rest;
                break;
            }
            [b'\\', x, rest @ ..] => {
                found |= eq(*x, c, nocase);
                p = rest;
            }
            [lo, b'-', hi, rest @ ..] if *hi != b']' => {
                let (mut lo, mut hi, mut c) = (*lo, *hi, c);
                if lo > hi {
                    std::mem::swap(&mut lo, &mut hi);
                }
                if nocase {
                    lo = lo.to_ascii_lowercase();
                    hi = hi.to_ascii_lowercase();
                    c = c.to_ascii_lowercase();
                }
                found |= (lo..=hi).contains(&c);
                p = rest;
            }
            [x, rest @ ..] => {
                found |= eq(*x, c, nocase);
                p = rest;
            }
        }
    }
    (found != negate, p)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn redis_patterns() {
        let m = |p: &str, s: &str| glob_match(p.as_bytes(), s.as_bytes(), false);
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hallo"));
        assert!(m("key:*:x", "key:12:x"));
        assert!(glob_match(b"SAVE", b"save", true));
    }
}
