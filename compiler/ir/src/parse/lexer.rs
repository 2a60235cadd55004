//! Tokens and the lexer: turns the source into [`Tok`]s with byte offsets, and reads
//! the small token-level forms (punctuation, identifiers, keywords, strings, numbers).

use super::{PResult, Parser};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok<'a> {
    /// `[A-Za-z_][A-Za-z0-9_.]*`, or `-` followed by one (`-inf`).
    Ident(&'a str),
    /// A number: `-`? digit, then letters, digits, `_`, `.`, and a sign after an exponent.
    Num(&'a str),
    /// `%name`, without the `%`.
    Value(&'a str),
    Str(String),
    Punct(char),
    Arrow,
    Ellipsis,
    Eof,
}

impl Tok<'_> {
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) | Tok::Num(s) => format!("`{s}`"),
            Tok::Value(s) => format!("`%{s}`"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Punct(c) => format!("`{c}`"),
            Tok::Arrow => "`->`".into(),
            Tok::Ellipsis => "`...`".into(),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// A token and the byte offset where it starts.
pub(super) type Spanned<'a> = (Tok<'a>, usize);

impl<'a> Parser<'a> {
    pub(super) fn skip_space(&self, mut i: usize) -> usize {
        let b = self.src.as_bytes();
        loop {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if b[i..].starts_with(b"//") {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            } else {
                return i;
            }
        }
    }

    /// Lexes the token at or after `i`: (token, start, end).
    pub(super) fn lex(&self, i: usize) -> PResult<(Tok<'a>, usize, usize)> {
        let src = self.src;
        let b = src.as_bytes();
        let start = self.skip_space(i);
        let Some(&c) = b.get(start) else {
            return Ok((Tok::Eof, start, start));
        };
        let word = |from: usize| {
            let mut j = from;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.') {
                j += 1;
            }
            j
        };
        let number = |from: usize| {
            let hex = b[from..].starts_with(b"0x");
            let mut j = from;
            while j < b.len() {
                let ok = b[j].is_ascii_alphanumeric()
                    || b[j] == b'_'
                    || b[j] == b'.'
                    || (!hex && (b[j] == b'+' || b[j] == b'-') && matches!(b[j - 1], b'e' | b'E'));
                if !ok {
                    break;
                }
                j += 1;
            }
            j
        };
        let next = b.get(start + 1).copied();
        let tok = match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let e = word(start);
                (Tok::Ident(&src[start..e]), start, e)
            }
            b'0'..=b'9' => {
                let e = number(start);
                (Tok::Num(&src[start..e]), start, e)
            }
            b'-' => match next {
                Some(b'>') => (Tok::Arrow, start, start + 2),
                Some(d) if d.is_ascii_digit() => {
                    let e = number(start + 1);
                    (Tok::Num(&src[start..e]), start, e)
                }
                Some(d) if d.is_ascii_alphabetic() => {
                    let e = word(start + 1);
                    (Tok::Ident(&src[start..e]), start, e)
                }
                _ => return Err(self.err_at(start, "unexpected character `-`")),
            },
            b'%' => {
                let mut e = start + 1;
                while e < b.len()
                    && (b[e].is_ascii_alphanumeric() || matches!(b[e], b'_' | b'.' | b'?'))
                {
                    e += 1;
                }
                if e == start + 1 {
                    return Err(self.err_at(start, "expected a value name after `%`"));
                }
                (Tok::Value(&src[start + 1..e]), start, e)
            }
            b'"' => {
                let (s, e) = self.string(start)?;
                (Tok::Str(s), start, e)
            }
            b'.' if b[start..].starts_with(b"...") => (Tok::Ellipsis, start, start + 3),
            b'(' | b')' | b'{' | b'}' | b'[' | b']' | b',' | b':' | b'=' | b';' | b'@' | b'$' => {
                (Tok::Punct(c as char), start, start + 1)
            }
            _ => {
                let ch = src[start..].chars().next().unwrap_or('?');
                return Err(self.err_at(start, format!("unexpected character {ch:?}")));
            }
        };
        Ok(tok)
    }

    /// A string literal starting at `start` (the opening quote), with the escapes Rust's
    /// `{:?}` writes: `\" \\ \n \r \t \0 \' \u{HEX}`.
    pub(super) fn string(&self, start: usize) -> PResult<(String, usize)> {
        let mut out = String::new();
        let mut it = self.src[start + 1..].char_indices();
        while let Some((i, c)) = it.next() {
            let at = start + 1 + i;
            match c {
                '"' => return Ok((out, at + 1)),
                '\\' => {
                    let Some((_, e)) = it.next() else { break };
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '\'' => out.push('\''),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        '0' => out.push('\0'),
                        'u' => {
                            let rest = &self.src[at + 2..];
                            let ch = rest
                                .strip_prefix('{')
                                .and_then(|r| r.split_once('}'))
                                .and_then(|(h, _)| u32::from_str_radix(h, 16).ok())
                                .and_then(char::from_u32);
                            let Some(ch) = ch else {
                                return Err(self.err_at(at, "invalid `\\u{...}` escape"));
                            };
                            out.push(ch);
                            for (_, c) in it.by_ref() {
                                if c == '}' {
                                    break;
                                }
                            }
                        }
                        other => return Err(self.err_at(at, format!("unknown escape `\\{other}`"))),
                    }
                }
                c => out.push(c),
            }
        }
        Err(self.err_at(start, "unterminated string"))
    }

    pub(super) fn peek(&mut self) -> PResult<Spanned<'a>> {
        if let Some((t, _)) = &self.peeked {
            return Ok(t.clone());
        }
        let (t, s, e) = self.lex(self.pos)?;
        self.peeked = Some(((t.clone(), s), e));
        Ok((t, s))
    }

    pub(super) fn bump(&mut self) -> PResult<Spanned<'a>> {
        let t = self.peek()?;
        if let Some((_, end)) = self.peeked.take() {
            self.pos = end;
        }
        Ok(t)
    }

    pub(super) fn eat(&mut self, c: char) -> PResult<bool> {
        if self.peek()?.0 == Tok::Punct(c) {
            self.bump()?;
            return Ok(true);
        }
        Ok(false)
    }

    pub(super) fn expect(&mut self, c: char) -> PResult<usize> {
        match self.peek()? {
            (Tok::Punct(p), at) if p == c => {
                self.bump()?;
                Ok(at)
            }
            _ => self.expected(&format!("`{c}`")),
        }
    }

    pub(super) fn expect_arrow(&mut self) -> PResult<()> {
        match self.peek()?.0 {
            Tok::Arrow => self.bump().map(|_| ()),
            _ => self.expected("`->`"),
        }
    }

    pub(super) fn ident(&mut self, what: &str) -> PResult<(&'a str, usize)> {
        match self.peek()? {
            (Tok::Ident(s), at) => {
                self.bump()?;
                Ok((s, at))
            }
            _ => self.expected(what),
        }
    }

    pub(super) fn keyword(&mut self, kw: &str) -> PResult<()> {
        match self.peek()?.0 {
            Tok::Ident(s) if s == kw => self.bump().map(|_| ()),
            _ => self.expected(&format!("`{kw}`")),
        }
    }

    pub(super) fn string_lit(&mut self, what: &str) -> PResult<String> {
        match self.peek()? {
            (Tok::Str(s), _) => {
                self.bump()?;
                Ok(s)
            }
            _ => self.expected(what),
        }
    }

    /// A number (or `inf`/`NaN`-style identifier) parsed as `T`.
    pub(super) fn number<T: std::str::FromStr>(&mut self, what: &str) -> PResult<T> {
        let (t, at) = self.peek()?;
        let text = match t {
            Tok::Num(s) | Tok::Ident(s) => s,
            _ => return self.expected(what),
        };
        match text.parse() {
            Ok(v) => {
                self.bump()?;
                Ok(v)
            }
            Err(_) => Err(self.err_at(at, format!("expected {what}, found `{text}`"))),
        }
    }
}
