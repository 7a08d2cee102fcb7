//! How client commands print: aligned tables for people, JSON for scripts.

use clap::ValueEnum;
use serde::Serialize;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A table for people.
    Table,
    /// JSON for scripts.
    Json,
}

/// Prints `value` as pretty JSON.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints `value` as JSON, or as a table of `headers` over the rows `cells` makes of it.
pub fn print_as<T: Serialize>(
    output: Output,
    value: &T,
    headers: &[&str],
    cells: impl FnOnce(&T) -> Vec<Vec<String>>,
) -> anyhow::Result<()> {
    match output {
        Output::Json => print_json(value),
        Output::Table => {
            print!("{}", table(headers, &cells(value)));
            Ok(())
        }
    }
}

/// Renders rows under headers, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> =
            cells.iter().enumerate().map(|(i, c)| format!("{c:<width$}", width = widths[i])).collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let rendered =
            table(&["NAME", "PARTITIONS"], &[vec!["orders".into(), "16".into()], vec!["a".into(), "1".into()]]);
        assert_eq!(rendered, "NAME    PARTITIONS\norders  16\na       1\n");
    }
}
