//! Script errors: what went wrong, where (file, line, column), what was
//! expected there, and a hint, rendered like rustc's diagnostics.

use std::fmt::{self, Write as _};

/// The file name used for scripts built in Rust (no file, no line).
pub const BUILDER_FILE: &str = "<builder>";

/// Where in a script file a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The text of that line, without its newline.
    pub text: String,
    /// How many characters to underline, at least 1.
    pub width: usize,
}

impl Location {
    /// The location of byte range `span` in `source`. A span past the end is
    /// clamped, so a bad span can never panic.
    pub fn of(source: &str, span: std::ops::Range<usize>) -> Self {
        let start = floor_char_boundary(source, span.start.min(source.len()));
        let end = floor_char_boundary(source, span.end.clamp(start, source.len()));
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let text = source[line_start..line_end].trim_end_matches('\r');
        let underlined = &source[start..end.min(line_end)];
        Self {
            line: source[..start].matches('\n').count() + 1,
            column: source[line_start..start].chars().count() + 1,
            text: text.to_owned(),
            width: underlined.chars().count().max(1),
        }
    }
}

fn floor_char_boundary(s: &str, mut index: usize) -> usize {
    while !s.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// One problem in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// The script's path as given, or [`BUILDER_FILE`].
    pub file: String,
    /// `None` when the script has no source text (built in Rust), or the
    /// problem is about a field the file leaves out.
    pub location: Option<Location>,
    /// The script field at fault, like `faults[0].heal_after`; empty when the
    /// problem is the file as a whole (a TOML syntax error).
    pub field: String,
    /// What is wrong, one line.
    pub message: String,
    /// What was expected at that place.
    pub expected: String,
    /// How to fix it.
    pub hint: String,
}

impl fmt::Display for ScriptError {
    /// ```text
    /// error: invalid duration `-5s`
    ///  --> scenarios/scripts/x.toml:12:6
    ///    |
    /// 12 | at = "-5s"
    ///    |      ^^^^^ expected a duration like "5s"
    ///    = field: faults[0].at
    ///    = hint: ...
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        let Some(at) = &self.location else {
            let field = if self.field.is_empty() {
                String::new()
            } else {
                format!(" (field `{}`)", self.field)
            };
            writeln!(f, " --> {}{field}", self.file)?;
            writeln!(f, "  = expected {}", self.expected)?;
            return writeln!(f, "  = hint: {}", self.hint);
        };
        let gutter = " ".repeat(at.line.to_string().len());
        writeln!(f, "{gutter}--> {}:{}:{}", self.file, at.line, at.column)?;
        writeln!(f, "{gutter} |")?;
        writeln!(f, "{} | {}", at.line, at.text)?;
        let mut marker = " ".repeat(at.column - 1);
        marker.push_str(&"^".repeat(at.width));
        writeln!(f, "{gutter} | {marker} expected {}", self.expected)?;
        if !self.field.is_empty() {
            writeln!(f, "{gutter} = field: {}", self.field)?;
        }
        writeln!(f, "{gutter} = hint: {}", self.hint)
    }
}

/// Every problem found in one script (at least one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScriptErrors(pub Vec<ScriptError>);

impl fmt::Display for ScriptErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                out.push('\n');
            }
            write!(out, "{error}")?;
        }
        let count = self.0.len();
        let plural = if count == 1 { "" } else { "s" };
        write!(out, "\nerror: the script has {count} problem{plural}")?;
        f.write_str(&out)
    }
}

/// Why a script could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("error: cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "error: `{name}` is neither a script file nor a built-in script\n  = hint: built-in scripts: {known}; a file path must exist (and usually ends in .toml)"
    )]
    UnknownName { name: String, known: String },
    #[error("{0}")]
    Invalid(#[from] ScriptErrors),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_count_lines_and_characters_from_one() {
        let source = "a = 1\nbé = \"-5s\"\n";
        let at = Location::of(source, 12..17);
        assert_eq!((at.line, at.column, at.width), (2, 6, 5));
        assert_eq!(at.text, "bé = \"-5s\"");
        // A span past the end is clamped, never a panic.
        let end = Location::of(source, 400..500);
        assert_eq!((end.line, end.column, end.width), (3, 1, 1));
    }

    #[test]
    fn renders_like_rustc() {
        let error = ScriptError {
            file: "x.toml".into(),
            location: Some(Location::of("at = \"-5s\"\n", 5..10)),
            field: "faults[0].at".into(),
            message: "invalid duration `-5s`".into(),
            expected: "a duration like \"5s\"".into(),
            hint: "durations cannot be negative".into(),
        };
        assert_eq!(
            error.to_string(),
            "error: invalid duration `-5s`\n --> x.toml:1:6\n  |\n1 | at = \"-5s\"\n  |      ^^^^^ expected a duration like \"5s\"\n  = field: faults[0].at\n  = hint: durations cannot be negative\n"
        );
    }
}
