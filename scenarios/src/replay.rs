//! Saved cases: a failing run is its script with the failing seed written
//! into it, so `squall replay FILE` reruns exactly that run.

use crate::script::spans::Spans;

/// `script_text` with its top-level `seed` set to `seed`: the value is
/// replaced if the script has one, else a `seed = N` line is added before
/// the first line that is neither blank nor a comment. Comments and layout
/// are kept, so the case reads like the script it came from.
pub fn case_text(script_text: &str, seed: u64) -> String {
    if let Some(span) = Spans::index(script_text).value_or_parent("seed")
        && span.end <= script_text.len()
    {
        let mut text = script_text.to_owned();
        text.replace_range(span, &seed.to_string());
        return text;
    }
    let mut offset = 0;
    for line in script_text.split_inclusive('\n') {
        let trimmed = line.trim();
        if !(trimmed.is_empty() || trimmed.starts_with('#')) {
            break;
        }
        offset += line.len();
    }
    format!(
        "{}seed = {seed}\n{}",
        &script_text[..offset],
        &script_text[offset..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_or_adds_the_seed() {
        assert_eq!(
            case_text("# c\nseed = 1 # why\nduration = \"1s\"\n", 42),
            "# c\nseed = 42 # why\nduration = \"1s\"\n"
        );
        assert_eq!(
            case_text("# c\n\nduration = \"1s\"\n", 7),
            "# c\n\nseed = 7\nduration = \"1s\"\n"
        );
        // A `seed` inside a table is not the script's seed.
        assert_eq!(
            case_text("[pool]\nrng_seed = 3\n", 9),
            "seed = 9\n[pool]\nrng_seed = 3\n"
        );
    }
}
