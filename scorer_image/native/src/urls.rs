//! The URLs of a mail's text parts, as the scorer's original Python regex found them.
//!
//! The rule (kept from `re.findall(r"https?://[^\s<>\"'()\[\]{}]+", text)`, case-sensitive,
//! `\s` being Python's whitespace): a URL starts at `http://` or `https://`, runs to the first
//! whitespace or delimiter character, loses its trailing `.,;:!?`, and counts once, in order of
//! first appearance, up to a limit. `tests/unit/scorer/test_decode.py` checks this against the
//! regex on generated and fuzzed text.

use std::collections::HashSet;

use memchr::memmem;

use crate::pystr;

/// Characters that end a URL besides Python's whitespace.
const DELIMITERS: &[char] = &['<', '>', '"', '\'', '(', ')', '[', ']', '{', '}'];
/// Trailing characters taken off a URL (sentence punctuation after a link).
const TRAILING: &[char] = &['.', ',', ';', ':', '!', '?'];

fn ends_url(c: char) -> bool {
    pystr::is_space(c) || DELIMITERS.contains(&c)
}

/// URLs in `texts`, in order of first appearance, unique, at most `limit` of them.
pub fn find_urls<'a>(texts: impl IntoIterator<Item = &'a str>, limit: usize) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let finder = memmem::Finder::new(b"http");
    for text in texts {
        let mut from = 0;
        while found.len() < limit {
            let Some(at) = finder.find(&text.as_bytes()[from..]).map(|offset| from + offset) else {
                break;
            };
            let rest = &text[at + 4..];
            let scheme_end = if rest.starts_with("s://") {
                at + 8
            } else if rest.starts_with("://") {
                at + 7
            } else {
                from = at + 1;
                continue;
            };
            let end = text[scheme_end..]
                .char_indices()
                .find(|&(_, c)| ends_url(c))
                .map_or(text.len(), |(offset, _)| scheme_end + offset);
            if end == scheme_end {
                from = at + 1;
                continue;
            }
            let url = text[at..end].trim_end_matches(TRAILING);
            if seen.insert(url) {
                found.push(url.to_owned());
            }
            from = end;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::find_urls;

    #[test]
    fn trailing_punctuation_and_duplicates() {
        let urls = find_urls(
            ["see https://a.example/x, and http://b.example. https://a.example/x"],
            50,
        );
        assert_eq!(urls, ["https://a.example/x", "http://b.example"]);
    }

    #[test]
    fn delimiters_and_python_whitespace_end_a_url() {
        let urls = find_urls(
            [
                "<a href=\"https://c.example/p?q=1\">",
                "http://d.example/\u{1c}x",
                "https://e.example\u{a0}y",
            ],
            50,
        );
        assert_eq!(
            urls,
            ["https://c.example/p?q=1", "http://d.example/", "https://e.example"]
        );
    }

    #[test]
    fn a_scheme_alone_is_not_a_url() {
        assert!(find_urls(["http:// https://\n httpx://a http:/b"], 50).is_empty());
        assert_eq!(find_urls(["https:/x http://y"], 50), ["http://y"]);
    }

    #[test]
    fn stops_at_the_limit_across_texts() {
        let text: String = (0..10).map(|i| format!("https://h{i}.example ")).collect();
        assert_eq!(find_urls([text.as_str(), "https://late.example"], 3).len(), 3);
    }

    #[test]
    fn punctuation_only_url_keeps_its_scheme() {
        assert_eq!(find_urls(["http://..."], 50), ["http://"]);
    }
}
