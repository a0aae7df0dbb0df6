//! Finding the program in a response: the last fenced ```` ```python ```` block.

/// The body of the last ```` ```python ```` (or ```` ```py ````, ```` ```python3 ````) fenced
/// block of `response`; `None` when there is none. An unterminated last block runs to the end of
/// the response (the model was cut off mid-block).
pub fn last_python_block(response: &str) -> Option<&str> {
    let mut found = None;
    let mut rest = response;
    let mut offset = 0;
    while let Some(pos) = rest.find("```") {
        let fence = offset + pos;
        let after = &response[fence + 3..];
        let line_end = after.find('\n').unwrap_or(after.len());
        let tag = after[..line_end].trim().to_ascii_lowercase();
        let body_start = fence + 3 + (line_end + 1).min(after.len());
        let body = &response[body_start..];
        let (content, next) = match body.find("```") {
            Some(close) => (&body[..close], body_start + close + 3),
            None => (body, response.len()),
        };
        if matches!(tag.as_str(), "python" | "py" | "python3") {
            found = Some(content);
        }
        offset = next;
        rest = &response[next..];
    }
    found.filter(|code| !code.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_last_python_block() {
        let r = "a\n```python\nprint(1)\n```\ntext\n```python\nprint(2)\n```\nbye";
        assert_eq!(last_python_block(r), Some("print(2)\n"));
    }

    #[test]
    fn skips_other_languages_and_plain_fences() {
        let r = "```python\nx = 1\n```\n```text\nout\n```\n```\nplain\n```";
        assert_eq!(last_python_block(r), Some("x = 1\n"));
        assert_eq!(last_python_block("```cpp\nint main(){}\n```"), None);
        assert_eq!(last_python_block("no code at all"), None);
    }

    #[test]
    fn unterminated_block_runs_to_the_end() {
        assert_eq!(
            last_python_block("```python\nprint(3)\n"),
            Some("print(3)\n")
        );
    }

    #[test]
    fn empty_block_is_no_answer_and_tags_are_case_insensitive() {
        assert_eq!(last_python_block("```python\n\n```"), None);
        assert_eq!(
            last_python_block("```Python3 \nprint(4)\n```"),
            Some("print(4)\n")
        );
    }
}
