//! Tokens of serialized TorchScript code (the Python subset `torch.jit.save` prints):
//! names, numbers, strings, operators, and Python's layout tokens (newline, indent,
//! dedent; none inside brackets).

/// One token and the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
    /// Operators and punctuation (`(`, `->`, `==`, `**`, ...).
    Op(&'static str),
    Newline,
    Indent,
    Dedent,
    Eof,
}

/// A lexing error: line and message.
pub(crate) type LexError = (usize, String);

const OPS: [&str; 40] = [
    "->", "**", "//", "==", "!=", "<=", ">=", "<<", ">>", "+=", "-=", "*=", "/=", "(", ")", "[",
    "]", "{", "}", ",", ":", ".", "=", "+", "-", "*", "/", "%", "<", ">", "&", "|", "^", "~", "@",
    ";", "!", "?", "$", "`",
];

/// Splits `src` into tokens with their line numbers.
pub(crate) fn lex(src: &str) -> Result<Vec<(Tok, usize)>, LexError> {
    let mut out = Vec::new();
    let mut indents: Vec<usize> = vec![0];
    let mut depth = 0usize;
    let b = src.as_bytes();
    let mut i = 0;
    let mut line = 1;
    let mut at_line_start = true;
    while i < b.len() {
        if at_line_start && depth == 0 {
            // Measure indentation; skip blank and comment-only lines.
            let mut col = 0;
            let mut j = i;
            while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                col += if b[j] == b'\t' { 8 - col % 8 } else { 1 };
                j += 1;
            }
            if j >= b.len() {
                break;
            }
            if b[j] == b'\n' || b[j] == b'\r' || b[j] == b'#' {
                while j < b.len() && b[j] != b'\n' {
                    j += 1;
                }
                i = j + 1;
                line += 1;
                continue;
            }
            let cur = *indents.last().unwrap_or(&0);
            if col > cur {
                indents.push(col);
                out.push((Tok::Indent, line));
            } else {
                while col < *indents.last().unwrap_or(&0) {
                    indents.pop();
                    out.push((Tok::Dedent, line));
                }
                if col != *indents.last().unwrap_or(&0) {
                    return Err((line, "inconsistent indentation".into()));
                }
            }
            i = j;
            at_line_start = false;
            continue;
        }
        let c = b[i];
        match c {
            b'\n' => {
                if depth == 0 {
                    out.push((Tok::Newline, line));
                    at_line_start = true;
                }
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'\\' if b.get(i + 1) == Some(&b'\n') => {
                i += 2;
                line += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' => {
                let (s, n, lines) =
                    string(&b[i..]).ok_or((line, "unterminated string".to_string()))?;
                out.push((Tok::Str(s), line));
                i += n;
                line += lines;
            }
            b'0'..=b'9' => {
                let (t, n) = number(&src[i..]).ok_or((line, "bad number".to_string()))?;
                out.push((t, line));
                i += n;
            }
            b'.' if b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                let (t, n) = number(&src[i..]).ok_or((line, "bad number".to_string()))?;
                out.push((t, line));
                i += n;
            }
            c if c == b'_' || c.is_ascii_alphabetic() => {
                let start = i;
                while i < b.len() && (b[i] == b'_' || b[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                out.push((Tok::Name(src[start..i].to_string()), line));
            }
            _ => {
                let Some(op) = OPS.iter().find(|o| b[i..].starts_with(o.as_bytes())) else {
                    return Err((line, format!("unexpected character {:?}", c as char)));
                };
                match *op {
                    "(" | "[" | "{" => depth += 1,
                    ")" | "]" | "}" => depth = depth.saturating_sub(1),
                    _ => {}
                }
                out.push((Tok::Op(op), line));
                i += op.len();
            }
        }
    }
    if !matches!(out.last(), Some((Tok::Newline, _)) | None) {
        out.push((Tok::Newline, line));
    }
    while indents.len() > 1 {
        indents.pop();
        out.push((Tok::Dedent, line));
    }
    out.push((Tok::Eof, line));
    Ok(out)
}

/// A quoted string at the start of `b`: its value, byte length and newlines inside.
fn string(b: &[u8]) -> Option<(String, usize, usize)> {
    let q = b[0];
    let mut out = Vec::new();
    let mut i = 1;
    let mut lines = 0;
    while i < b.len() {
        match b[i] {
            c if c == q => {
                return Some((String::from_utf8(out).ok()?, i + 1, lines));
            }
            b'\\' => {
                let e = *b.get(i + 1)?;
                match e {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'0' => out.push(0),
                    b'\\' | b'\'' | b'"' => out.push(e),
                    other => {
                        out.push(b'\\');
                        out.push(other);
                    }
                }
                i += 2;
            }
            b'\n' => return None,
            c => {
                if c == b'\n' {
                    lines += 1;
                }
                out.push(c);
                i += 1;
            }
        }
    }
    None
}

/// A number at the start of `s`: ints, floats (`0.`, `1e-05`, `.5`), hex ints.
fn number(s: &str) -> Option<(Tok, usize)> {
    let b = s.as_bytes();
    if b.starts_with(b"0x") || b.starts_with(b"0X") {
        let n = 2 + b[2..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        return Some((Tok::Int(i64::from_str_radix(&s[2..n], 16).ok()?), n));
    }
    let mut i = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut float = false;
    if b.get(i) == Some(&b'.') {
        float = true;
        i += 1;
        i += b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    if matches!(b.get(i), Some(b'e') | Some(b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+') | Some(b'-')) {
            j += 1;
        }
        let digits = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 {
            float = true;
            i = j + digits;
        }
    }
    let text = &s[..i];
    if float {
        Some((Tok::Float(text.parse().ok()?), i))
    } else {
        // Ints past i64 (never in real code) are refused by the parse.
        Some((Tok::Int(text.parse().ok()?), i))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn numbers_strings_and_layout() {
        let t = toks("def f(x):\n  y = g(x, [1,\n 2], 0., 1e-05, \"a\\\"b\")\n  return y\n");
        assert!(t.contains(&Tok::Indent));
        assert!(t.contains(&Tok::Dedent));
        assert!(t.contains(&Tok::Float(0.0)));
        assert!(t.contains(&Tok::Float(1e-05)));
        assert!(t.contains(&Tok::Str("a\"b".into())));
        // No newline inside the brackets.
        let nl = t.iter().filter(|x| **x == Tok::Newline).count();
        assert_eq!(nl, 3);
    }

    #[test]
    fn errors_are_reported() {
        assert!(lex("x = \"abc\n").is_err());
        assert!(lex("x = 1\n  y = 2\n z = 3\n").is_err());
    }
}
