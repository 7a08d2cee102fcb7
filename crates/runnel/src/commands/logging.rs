//! Log output for the long-running commands (`serve`, `chat`): `RUNNEL_LOG` filters, lines go
//! to stderr, and control characters are escaped.
//!
//! Log lines carry strings that clients choose (client ids, topic and group names, member ids).
//! Escaping happens on the way out, for every line, so no field anywhere can write a NUL, a DEL,
//! a terminal escape sequence or a forged second line into the log.

use std::io::{self, Write};

/// Starts logging to stderr at `RUNNEL_LOG` (default `info`).
pub fn init() {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RUNNEL_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(move || EscapingWriter { inner: io::stderr(), keep_ansi: ansi })
        .with_ansi(ansi)
        .init();
}

/// Writes formatted log lines with control characters escaped as `\xNN` (`\u{NN}` for C1
/// controls). The final newline of a line stays; `keep_ansi` keeps ESC for our own colours on a
/// terminal.
pub struct EscapingWriter<W: Write> {
    /// Where escaped lines go.
    pub inner: W,
    /// Whether ESC passes (colour output on a terminal).
    pub keep_ansi: bool,
}

/// `line` with control characters escaped; see [`EscapingWriter`].
pub fn escape_line(line: &[u8], keep_ansi: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let last = line.len().saturating_sub(1);
    let mut i = 0;
    while i < line.len() {
        let byte = line[i];
        let keep = match byte {
            b'\n' => i == last,
            b'\t' => true,
            0x1b => keep_ansi,
            0x00..=0x1f | 0x7f => false,
            _ => true,
        };
        if byte == 0xc2 && line.get(i + 1).is_some_and(|next| (0x80..=0x9f).contains(next)) {
            let _ = write!(out, "\\u{{{:02x}}}", line[i + 1]);
            i += 2;
            continue;
        }
        if keep {
            out.push(byte);
        } else {
            let _ = write!(out, "\\x{byte:02x}");
        }
        i += 1;
    }
    out
}

impl<W: Write> Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_all(&escape_line(buf, self.keep_ansi))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_clients_are_escaped_and_the_line_end_kept() {
        let line = "client=evil\u{0}\u{7f}\n2026 forged line\u{1b}[31m\u{9b}ok\n".as_bytes();
        let escaped = String::from_utf8(escape_line(line, false)).expect("utf-8");
        assert_eq!(escaped, "client=evil\\x00\\x7f\\x0a2026 forged line\\x1b[31m\\u{9b}ok\n");
        assert_eq!(escape_line("é ü\ttab\n".as_bytes(), false), "é ü\ttab\n".as_bytes());
        assert_eq!(escape_line(b"\x1b[2mdim\x1b[0m\n", true), b"\x1b[2mdim\x1b[0m\n");
    }
}
