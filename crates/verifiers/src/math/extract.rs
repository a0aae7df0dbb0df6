//! Finding the final answer in a model response: the last `\boxed{…}` / `\fbox{…}` with balanced
//! braces, else the text after the last "answer is" / "answer:".

/// The content of the last `\boxed{…}` or `\fbox{…}` whose braces balance, if any.
pub fn last_boxed(text: &str) -> Option<&str> {
    let mut starts: Vec<(usize, usize)> = ["\\boxed", "\\fbox"]
        .iter()
        .flat_map(|cmd| text.match_indices(cmd).map(|(i, m)| (i, i + m.len())))
        .collect();
    starts.sort_unstable();
    starts
        .iter()
        .rev()
        .find_map(|&(_, after)| boxed_argument(&text[after..]))
}

/// The argument following a `\boxed` command: a balanced `{…}` group, or (`\boxed 5`) the next
/// whitespace-free run.
fn boxed_argument(rest: &str) -> Option<&str> {
    let trimmed = rest.trim_start();
    if let Some(inner) = trimmed.strip_prefix('{') {
        let mut depth = 1usize;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(&inner[..i]);
                    }
                }
                _ => {}
            }
        }
        return None;
    }
    if trimmed.len() == rest.len() {
        // `\boxedx` is another command, not `\boxed x`.
        return None;
    }
    let end = trimmed
        .find(|c: char| c.is_whitespace() || c == '$')
        .unwrap_or(trimmed.len());
    (end > 0).then(|| &trimmed[..end])
}

/// The text after the last "answer is" / "answer:" (case-insensitive), up to the end of its
/// line, without a trailing period or `$` delimiters.
pub fn after_answer_phrase(text: &str) -> Option<&str> {
    let lower = text.to_ascii_lowercase();
    let (at, len) = ["answer is", "answer:"]
        .iter()
        .filter_map(|phrase| lower.rfind(phrase).map(|i| (i, phrase.len())))
        .max()?;
    // Markdown emphasis around the phrase (`**Answer:** 12`) is not part of the answer.
    let rest =
        text[at + len..].trim_start_matches(|c: char| c == ':' || c == '*' || c.is_whitespace());
    let answer = delimited(rest).unwrap_or_else(|| {
        let line = rest.split('\n').next().unwrap_or("");
        // The sentence ends at a period followed by a space ("$5$. I hope it is correct").
        let sentence = line.split(". ").next().unwrap_or(line);
        sentence.trim().trim_end_matches(['.', '*']).trim()
    });
    let answer = answer.trim();
    (!answer.is_empty()).then_some(answer)
}

/// The content of a leading `$…$`, `$$…$$`, `\(…\)` or `\[…\]`.
fn delimited(text: &str) -> Option<&str> {
    for (open, close) in [("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")] {
        if let Some(inner) = text.strip_prefix(open) {
            // A `$` escaped as `\$` (a dollar sign) does not close the math.
            let end = inner
                .match_indices(close)
                .map(|(i, _)| i)
                .find(|&i| close != "$" || !inner[..i].ends_with('\\'))?;
            return Some(inner[..end].trim().trim_end_matches('.'));
        }
    }
    None
}

/// The final answer of a response, or `None` when it has none.
pub fn extract_answer(response: &str) -> Option<&str> {
    last_boxed(response).or_else(|| after_answer_phrase(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_balanced_boxed_wins() {
        assert_eq!(
            last_boxed(r"\boxed{1} then \boxed{\frac{1}{2}}."),
            Some(r"\frac{1}{2}")
        );
        assert_eq!(last_boxed(r"\fbox{7}"), Some("7"));
        assert_eq!(last_boxed(r"so $\boxed 5$"), Some("5"));
        // The last one is cut off: fall back to the previous balanced one.
        assert_eq!(last_boxed(r"\boxed{3} and \boxed{\frac{1}{"), Some("3"));
        assert_eq!(last_boxed("no box"), None);
        assert_eq!(last_boxed(r"\boxed{}"), Some(""));
    }

    #[test]
    fn answer_phrase_fallback() {
        assert_eq!(extract_answer("So the answer is $12$.\nDone"), Some("12"));
        assert_eq!(extract_answer("Final Answer: x = 3"), Some("x = 3"));
        assert_eq!(extract_answer("I think it is 4"), None);
        assert_eq!(extract_answer("The answer is ."), None);
        assert_eq!(
            extract_answer(
                "Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct."
            ),
            Some("\\frac{1}{2}")
        );
        assert_eq!(extract_answer("the answer is 3.5. Next"), Some("3.5"));
        assert_eq!(extract_answer("**Answer:** 196"), Some("196"));
        assert_eq!(extract_answer("**Answer: 196**"), Some("196"));
        assert_eq!(
            extract_answer("Thus the answer is $\\$163$."),
            Some("\\$163")
        );
        // A box beats a phrase.
        assert_eq!(extract_answer(r"answer is 3, i.e. \boxed{4}"), Some("4"));
    }

    #[test]
    fn unicode_is_safe() {
        assert_eq!(extract_answer("Ответ: answer is π…"), Some("π…"));
        assert_eq!(last_boxed("\\boxed{−½}"), Some("−½"));
    }
}
