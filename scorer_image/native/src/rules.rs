//! The feature rules and their word lists: the only place they are defined.
//!
//! Pure functions over text (no Python objects): the sender's domain, look-alike brand domains,
//! URL hosts and their flags, attachment extensions, reply/forward subjects and the phrase hits
//! of urgency, credential and payment language. Signals follow what mail-security engines look
//! at. Every rule keeps the exact behaviour of the Python it replaced (Python string semantics
//! come from `pystr`), because a trained model depends on it: change a rule or a list only
//! together with a new model version.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::{ControlFlow, Range};
use std::sync::LazyLock;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind};

use crate::pystr::{char_len, ignorecase_matches, is_decimal, is_space, lower, lower_into, strip};

/// Brands that phishing imitates; a domain imitating one without being it is a look-alike.
pub const BRANDS: &[&str] = &[
    "paypal",
    "microsoft",
    "office365",
    "outlook",
    "apple",
    "icloud",
    "amazon",
    "google",
    "docusign",
    "dropbox",
    "netflix",
    "dhl",
    "fedex",
    "wellsfargo",
    "chase",
    "bankofamerica",
    "linkedin",
    "adobe",
];
/// Free mail providers (a business sender on one of them is a fraud signal).
pub const FREE_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "hotmail.com",
    "yahoo.com",
    "aol.com",
    "gmx.com",
    "proton.me",
    "icloud.com",
];
/// Top-level domains over-represented in phishing links.
pub const RISKY_TLDS: &[&str] = &[
    "xyz", "top", "click", "zip", "tk", "ml", "ga", "cf", "gq", "ru", "cn", "work", "info", "live",
];
/// URL shortener hosts (they hide the real target).
pub const URL_SHORTENERS: &[&str] = &[
    "bit.ly",
    "tinyurl.com",
    "t.co",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "cutt.ly",
];
/// Attachment extensions that run code when opened.
pub const EXECUTABLE_EXTENSIONS: &[&str] = &[
    "exe", "scr", "js", "jse", "vbs", "bat", "cmd", "ps1", "msi", "iso", "img", "lnk", "jar", "hta",
];
/// Office documents with macros.
pub const MACRO_EXTENSIONS: &[&str] = &["docm", "xlsm", "pptm", "xlsb", "dotm"];
/// Archives (they carry payloads past attachment filters).
pub const ARCHIVE_EXTENSIONS: &[&str] = &["zip", "rar", "7z", "gz", "tar", "ace", "cab"];
/// Document extensions that a double extension (`invoice.pdf.exe`) pretends to.
pub const DOCUMENT_EXTENSIONS: &[&str] = &["pdf", "doc", "docx", "xls", "xlsx", "txt", "jpg", "png"];
/// HTML-like attachments (local credential-harvesting pages).
pub const HTML_EXTENSIONS: &[&str] = &["html", "htm", "shtml", "svg"];
/// Urgency language, counted in the subject.
pub const URGENCY_PHRASES: &[&str] = &[
    "urgent",
    "immediate",
    "action required",
    "suspend",
    "verify",
    "final notice",
    "expire",
    "within 24 hours",
    "locked",
    "unusual",
];
/// Credential-harvesting language, counted in the body.
pub const CREDENTIAL_PHRASES: &[&str] = &[
    "password",
    "sign in",
    "sign-in",
    "login",
    "log in",
    "verify your",
    "confirm your",
    "credentials",
    "suspended",
    "locked",
    "security alert",
    "update your",
    "mailbox is full",
];
/// Payment and invoice-fraud language, counted in the subject and the body together.
pub const PAYMENT_PHRASES: &[&str] = &[
    "wire transfer",
    "bank details",
    "invoice",
    "payment",
    "remittance",
    "gift card",
    "overdue",
    "iban",
    "beneficiary",
    "purchase order",
    "new supplier",
];
/// Subject prefixes of replies and forwards (English, German `AW`, Scandinavian `SV`), matched
/// case-insensitively before a colon.
const REPLY_FORWARD_PREFIXES: &[&str] = &["re", "fw", "fwd", "aw", "sv"];
/// Second-level labels of two-part public suffixes such as `co.uk` (with a two-letter TLD).
const TWO_PART_SUFFIX_LABELS: &[&str] = &["co", "com", "org", "net", "ac", "gov"];
/// Digits and signs that stand in for letters in look-alike domains (`paypa1`, `micros0ft`).
const HOMOGLYPHS: &[(char, char)] = &[
    ('0', 'o'),
    ('1', 'l'),
    ('3', 'e'),
    ('4', 'a'),
    ('5', 's'),
    ('7', 't'),
    ('@', 'a'),
];
/// Letter pairs that read as one letter (`rnicrosoft`, `vvellsfargo`).
const LETTER_PAIRS: &[([u8; 2], u8)] = &[([b'r', b'n'], b'm'), ([b'v', b'v'], b'w')];
/// A brand this long counts anywhere in the domain (`paypal.com.account-check.xyz`); a shorter
/// one (`dhl`) only inside the registrable label, where it is less likely to be chance.
const BRAND_ANYWHERE_MIN_LEN: usize = 4;
/// A brand this long counts when the label is one edit away from it (`amazn`).
const BRAND_ONE_EDIT_MIN_LEN: usize = 5;
const LIST_UNSUBSCRIBE: &str = "list-unsubscribe";

/// The offset of the last `byte` (ASCII) in `text`: Python's `rpartition`, on short texts.
fn last_byte(text: &str, byte: u8) -> Option<usize> {
    text.bytes().rposition(|b| b == byte)
}

/// The lowercase domain of an addr-spec `local@domain`: the text after the last `@` (all of it
/// when there is none), Python-whitespace and `>` stripped from both ends; "" for no address.
pub fn domain_of(address: Option<&str>) -> Cow<'_, str> {
    let Some(address) = address else {
        return Cow::Borrowed("");
    };
    let domain = last_byte(address, b'@').map_or(address, |at| &address[at + 1..]);
    lower(strip(domain).trim_matches('>'))
}

/// `is_lookalike_domain` with a memory of the answers, for one batch of events: senders'
/// domains and link hosts repeat (newsletters, a company's own links), and a lookup is several
/// times cheaper than the check. Holds every distinct domain it was asked about.
#[derive(Default)]
pub struct LookalikeMemo {
    answers: HashMap<String, bool>,
}

impl LookalikeMemo {
    /// `is_lookalike_domain(domain)`, computed once per distinct domain.
    pub fn is_lookalike_domain(&mut self, domain: &str) -> bool {
        if let Some(&answer) = self.answers.get(domain) {
            return answer;
        }
        let answer = is_lookalike_domain(domain);
        self.answers.insert(domain.to_owned(), answer);
        answer
    }
}

/// Byte range of the label left of the public suffix, approximated: `login.paypa1.com` ->
/// `paypa1` (the last label when there is a single one).
///
/// Handles two-part suffixes such as `co.uk`; good enough for features, not for policy.
fn registrable_label(domain: &str) -> Range<usize> {
    let last_dot = |end: usize| last_byte(&domain[..end], b'.');
    let Some(suffix_dot) = last_dot(domain.len()) else {
        return 0..domain.len();
    };
    let second_dot = last_dot(suffix_dot);
    let second = second_dot.map_or(0, |dot| dot + 1)..suffix_dot;
    if let Some(second_dot) = second_dot
        && TWO_PART_SUFFIX_LABELS.contains(&&domain[second.clone()])
        && char_len(&domain[suffix_dot + 1..]) == 2
    {
        return last_dot(second_dot).map_or(0, |dot| dot + 1)..second_dot;
    }
    second
}

/// Whether `a` and `b` are exactly one substitution, insertion or deletion apart (not equal).
///
/// The edit can only be at their first difference: of equal lengths, they must agree after it;
/// otherwise the longer one without that element must be the shorter one (and with no
/// difference at all, the longer one is the shorter one plus a last element).
fn within_one_edit<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    let (shorter, longer) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if longer.len() - shorter.len() > 1 {
        return false;
    }
    let Some(at) = shorter.iter().zip(longer).position(|(x, y)| x != y) else {
        return longer.len() != shorter.len();
    };
    if longer.len() == shorter.len() {
        shorter[at + 1..] == longer[at + 1..]
    } else {
        shorter[at..] == longer[at + 1..]
    }
}

/// Finds every occurrence of every pattern in a text, overlapping ones included (an
/// Aho-Corasick DFA with standard semantics: each match state names all patterns ending there).
struct OverlappingMatcher {
    automaton: DFA,
    start: StateID,
    /// Bytes a walk must have read before its state covers every match ending at the next byte.
    overlap: usize,
}

impl OverlappingMatcher {
    /// A matcher of `patterns` as given, or with ASCII letters of either case matching.
    fn new(patterns: &[&str], ascii_case_insensitive: bool) -> Self {
        // No prefilter: on short domains and on mail text, where most bytes can start some
        // pattern, a plain walk of the DFA is faster than skipping ahead.
        let automaton = DFA::builder()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(ascii_case_insensitive)
            .prefilter(false)
            .build(patterns)
            .expect("the pattern lists build an automaton");
        let start = automaton
            .start_state(Anchored::No)
            .expect("an unanchored DFA has an unanchored start");
        let overlap = patterns.iter().map(|pattern| pattern.len()).max().unwrap_or(1) - 1;
        Self {
            automaton,
            start,
            overlap,
        }
    }

    #[inline(always)]
    fn next(&self, state: StateID, byte: u8) -> StateID {
        self.automaton.next_state(Anchored::No, state, byte)
    }

    /// Calls `visit(pattern index)` for each pattern that ends where `state` was entered.
    #[inline(always)]
    fn visit_matches(&self, state: StateID, visit: &mut impl FnMut(usize)) {
        if self.automaton.is_match(state) {
            self.visit_patterns(state, visit);
        }
    }

    /// Out of the walk's loop: matches are rare, and the loop keeps its registers for the walks.
    #[cold]
    #[inline(never)]
    fn visit_patterns(&self, state: StateID, visit: &mut dyn FnMut(usize)) {
        for index in 0..self.automaton.match_len(state) {
            visit(self.automaton.match_pattern(state, index).as_usize());
        }
    }

    /// Calls `visit(pattern index, end offset)` for each occurrence, by increasing end offset,
    /// until it breaks; returns whether it did.
    fn try_for_each(&self, haystack: &str, mut visit: impl FnMut(usize, usize) -> ControlFlow<()>) -> ControlFlow<()> {
        let mut state = self.start;
        for (at, &byte) in haystack.as_bytes().iter().enumerate() {
            state = self.next(state, byte);
            if self.automaton.is_match(state) {
                for index in 0..self.automaton.match_len(state) {
                    visit(self.automaton.match_pattern(state, index).as_usize(), at + 1)?;
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// Calls `visit(pattern index)` for each occurrence in `haystack`, in no particular order.
    ///
    /// Four walks run in lockstep, one per quarter, because the CPU overlaps independent walks
    /// (about twice as fast as one walk on mail bodies).
    /// Each walk but the first starts `overlap` bytes before its quarter, so that its state is
    /// complete by the quarter's first byte, and counts only matches ending in its quarter (the
    /// last one also reads what is left after it): every occurrence is seen exactly once.
    fn for_each_pattern(&self, haystack: &[u8], mut visit: impl FnMut(usize)) {
        let overlap = self.overlap;
        let part = haystack.len() / 4;
        if part <= overlap {
            let mut state = self.start;
            for &byte in haystack {
                state = self.next(state, byte);
                self.visit_matches(state, &mut visit);
            }
            return;
        }
        let walk = |index: usize| &haystack[index * part - overlap..];
        let (w0, w1, w2, w3) = (&haystack[..part], walk(1), walk(2), walk(3));
        let [mut s0, mut s1, mut s2, mut s3] = [self.start; 4];
        let lockstep = |from: usize, to: usize| {
            w0[from..to]
                .iter()
                .zip(&w1[from..to])
                .zip(&w2[from..to])
                .zip(&w3[from..to])
        };
        for (((&b0, &b1), &b2), &b3) in lockstep(0, overlap) {
            s0 = self.next(s0, b0);
            s1 = self.next(s1, b1);
            s2 = self.next(s2, b2);
            s3 = self.next(s3, b3);
            self.visit_matches(s0, &mut visit);
        }
        for (((&b0, &b1), &b2), &b3) in lockstep(overlap, part) {
            s0 = self.next(s0, b0);
            s1 = self.next(s1, b1);
            s2 = self.next(s2, b2);
            s3 = self.next(s3, b3);
            for state in [s0, s1, s2, s3] {
                self.visit_matches(state, &mut visit);
            }
        }
        let rest = part..part + overlap;
        for ((&b1, &b2), &b3) in w1[rest.clone()].iter().zip(&w2[rest.clone()]).zip(&w3[rest]) {
            s1 = self.next(s1, b1);
            s2 = self.next(s2, b2);
            s3 = self.next(s3, b3);
            for state in [s1, s2, s3] {
                self.visit_matches(state, &mut visit);
            }
        }
        for &byte in &w3[part + overlap..] {
            s3 = self.next(s3, byte);
            self.visit_matches(s3, &mut visit);
        }
    }
}

static BRAND_MATCHER: LazyLock<OverlappingMatcher> = LazyLock::new(|| OverlappingMatcher::new(BRANDS, false));

/// The length of the longest brand (a longer normalized label is no brand).
const LONGEST_BRAND: usize = {
    let mut longest = 0;
    let mut i = 0;
    while i < BRANDS.len() {
        if BRANDS[i].len() > longest {
            longest = BRANDS[i].len();
        }
        i += 1;
    }
    longest
};

/// True when `domain` imitates a brand without being it.
///
/// Caught: homoglyph swaps (`paypa1.com`, `rnicrosoft.com`), one edit away (`amazn.com`), the
/// brand plus words (`paypal-secure-login.com`), and the brand as a subdomain of someone else's
/// domain (`paypal.com.account-check.xyz`). The brand's own domain (`paypal.com`,
/// `mail.paypal.com`) is not a look-alike. Case-sensitive: callers pass lowercase domains.
pub fn is_lookalike_domain(domain: &str) -> bool {
    if domain.is_empty() {
        return false;
    }
    let label_span = registrable_label(domain);
    let label = &domain[label_span.clone()];
    if BRANDS.contains(&label) {
        return false;
    }
    normalizes_to_a_brand(label) || contains_a_brand(domain, label_span) || is_one_edit_from_a_brand(label)
}

/// `HOMOGLYPHS` as a table over ASCII: the letter each character reads as (itself if none).
const HOMOGLYPH_TABLE: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut c = 0;
    while c < 128 {
        table[c] = c as u8;
        c += 1;
    }
    let mut i = 0;
    while i < HOMOGLYPHS.len() {
        table[HOMOGLYPHS[i].0 as usize] = HOMOGLYPHS[i].1 as u8;
        i += 1;
    }
    table
};

/// Whether `label` is a brand once homoglyphs are replaced and letter pairs joined, in that
/// order (Python's `label.translate(homoglyphs).replace("rn", "m").replace("vv", "w")`).
///
/// Brands are ASCII and homoglyphs map ASCII to ASCII, so a label with any other character is
/// no brand. One pass does both joins: homoglyphs never produce `r`, `n` or `v`, and joining
/// `rn` puts an `m` between whatever surrounded it, so no `vv` appears or disappears by it.
fn normalizes_to_a_brand(label: &str) -> bool {
    if !label.is_ascii() {
        return false;
    }
    let mut normalized = [0u8; LONGEST_BRAND];
    let mut len = 0;
    let mut bytes = label.bytes().map(|b| HOMOGLYPH_TABLE[usize::from(b)]).peekable();
    while let Some(b) = bytes.next() {
        let joined = LETTER_PAIRS
            .iter()
            .find(|&&([first, second], _)| b == first && bytes.peek() == Some(&second));
        let b = match joined {
            Some(&(_, letter)) => {
                bytes.next();
                letter
            }
            None => b,
        };
        if len == LONGEST_BRAND {
            return false;
        }
        normalized[len] = b;
        len += 1;
    }
    BRANDS.iter().any(|brand| brand.as_bytes() == &normalized[..len])
}

/// Python's `brand in label or (brand in domain and len(brand) >= 4)` for any brand, in one
/// pass over `domain` (`label_span` is the label's byte range in it).
fn contains_a_brand(domain: &str, label_span: Range<usize>) -> bool {
    BRAND_MATCHER
        .try_for_each(domain, |pattern, end| {
            let brand_len = BRANDS[pattern].len();
            let in_label = end - brand_len >= label_span.start && end <= label_span.end;
            if brand_len >= BRAND_ANYWHERE_MIN_LEN || in_label {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .is_break()
}

fn is_one_edit_from_a_brand(label: &str) -> bool {
    let label_len = char_len(label);
    let mut candidates = BRANDS
        .iter()
        .filter(|brand| brand.len() >= BRAND_ONE_EDIT_MIN_LEN && brand.len().abs_diff(label_len) <= 1);
    if label.is_ascii() {
        return candidates.any(|brand| within_one_edit(label.as_bytes(), brand.as_bytes()));
    }
    let label: Vec<char> = label.chars().collect();
    candidates.any(|brand| within_one_edit(&label, &brand.chars().collect::<Vec<_>>()))
}

/// The lowercase host of a URL (`https://user@Login.Example.com:8443/x` -> `login.example.com`),
/// trailing dots removed; "" when there is none.
///
/// Scheme-less URLs (`www.example.com/x`) and IPv6 literals (`http://[2001:db8::1]/`, without the
/// brackets) work too. Reads what the anchored regex
/// `(?:[A-Za-z][A-Za-z0-9+.\-]*://)?(?:[^@/?#]*@)?(?:\[([^\]/?#]*)\]|([^:/?#\[]*))` captures.
pub fn url_host(url: &str) -> Cow<'_, str> {
    // Byte searches are safe on UTF-8: bytes of non-ASCII characters are never ASCII delimiters.
    let bytes = url.as_bytes();
    let mut start = 0;
    if bytes.first().is_some_and(u8::is_ascii_alphabetic) {
        let scheme_len = 1 + bytes[1..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
            .count();
        if bytes[scheme_len..].starts_with(b"://") {
            start = scheme_len + 3;
        }
    }
    fn delimiter(bytes: &[u8], from: usize, is_delimiter: impl Fn(&u8) -> bool) -> Option<usize> {
        bytes[from..].iter().position(is_delimiter).map(|offset| from + offset)
    }
    if let Some(at) = delimiter(bytes, start, |b| matches!(b, b'@' | b'/' | b'?' | b'#'))
        && bytes[at] == b'@'
    {
        start = at + 1;
    }
    let host = if bytes.get(start) == Some(&b'[') {
        match delimiter(bytes, start + 1, |b| matches!(b, b']' | b'/' | b'?' | b'#')) {
            Some(end) if bytes[end] == b']' => &url[start + 1..end],
            _ => "",
        }
    } else {
        let end = delimiter(bytes, start, |b| matches!(b, b':' | b'/' | b'?' | b'#' | b'[')).unwrap_or(bytes.len());
        &url[start..end]
    };
    match lower(host) {
        Cow::Borrowed(host) => Cow::Borrowed(host.trim_end_matches('.')),
        Cow::Owned(mut host) => {
            host.truncate(host.trim_end_matches('.').len());
            Cow::Owned(host)
        }
    }
}

/// Whether `host` is a dotted IPv4 address as `^\d{1,3}(?:\.\d{1,3}){3}$` reads it: Unicode
/// decimal digits, and one trailing newline allowed (`$`).
fn is_ipv4(host: &str) -> bool {
    let host = host.strip_suffix('\n').unwrap_or(host);
    let mut parts = 0;
    for part in host.split('.') {
        parts += 1;
        if parts > 4 || !(1..=3).contains(&char_len(part)) || !part.chars().all(is_decimal) {
            return false;
        }
    }
    parts == 4
}

/// What a batch of an email's URLs says, given the sender's domain.
#[derive(Default)]
pub struct UrlSummary {
    /// URLs with a host (the others are not counted at all).
    pub count: u64,
    /// A host is a raw IPv4 address.
    pub ip_host: bool,
    /// A non-IP host is under a risky top-level domain.
    pub risky_tld: bool,
    /// A host is a URL shortener.
    pub shortener: bool,
    /// A host is a brand look-alike.
    pub lookalike_brand: bool,
    /// Hosts that are neither the sender's domain nor under it (0 when there is no sender domain).
    pub foreign: u64,
}

impl UrlSummary {
    /// Adds one URL; `from_domain` is the sender's lowercase domain ("" when unknown).
    pub fn add(&mut self, url: &str, from_domain: &str, lookalikes: &mut LookalikeMemo) {
        let host = url_host(url);
        if host.is_empty() {
            return;
        }
        self.count += 1;
        let ip_host = is_ipv4(&host);
        self.ip_host |= ip_host;
        self.risky_tld |=
            !ip_host && RISKY_TLDS.contains(&last_byte(&host, b'.').map_or(&*host, |dot| &host[dot + 1..]));
        self.shortener |= URL_SHORTENERS.contains(&&*host);
        self.lookalike_brand |= lookalikes.is_lookalike_domain(&host);
        let own = host == from_domain || host.strip_suffix(from_domain).is_some_and(|head| head.ends_with('.'));
        if !from_domain.is_empty() && !own {
            self.foreign += 1;
        }
    }

    /// The share of hosts that are foreign to the sender, in [0, 1] (0 without URLs).
    pub fn foreign_fraction(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.foreign as f64 / self.count as f64
        }
    }
}

/// The text after the last dot of `name` ("" when it has no dot).
fn extension(name: &str) -> &str {
    last_byte(name, b'.').map_or("", |dot| &name[dot + 1..])
}

/// What an email's attachments say, from their declared file names.
#[derive(Default)]
pub struct AttachmentSummary {
    /// Attachments seen.
    pub count: u64,
    /// One has an executable extension.
    pub executable: bool,
    /// One is a macro-enabled Office document.
    pub macro_document: bool,
    /// One is an archive.
    pub archive: bool,
    /// One is HTML-like.
    pub html: bool,
    /// One has a document extension before its last one (`invoice.pdf.exe`).
    pub double_extension: bool,
}

impl AttachmentSummary {
    /// Adds one attachment by its file name (any case; may be empty).
    pub fn add(&mut self, name: &str) {
        self.count += 1;
        let name = lower(name);
        let ext = extension(&name);
        if EXECUTABLE_EXTENSIONS.contains(&ext) {
            self.executable = true;
        } else if MACRO_EXTENSIONS.contains(&ext) {
            self.macro_document = true;
        } else if ARCHIVE_EXTENSIONS.contains(&ext) {
            self.archive = true;
        } else if HTML_EXTENSIONS.contains(&ext) {
            self.html = true;
        }
        if !ext.is_empty() && DOCUMENT_EXTENSIONS.contains(&extension(&name[..name.len() - ext.len() - 1])) {
            self.double_extension = true;
        }
    }
}

/// Whether a subject marks a reply or forward: optional Python whitespace, `re`, `fw`, `fwd`,
/// `aw` or `sv` in any case (`re.IGNORECASE`), optional whitespace, then a colon.
pub fn is_reply_or_forward(subject: &str) -> bool {
    let subject = subject.trim_start_matches(is_space);
    REPLY_FORWARD_PREFIXES.iter().any(|prefix| {
        let mut chars = subject.chars();
        prefix
            .bytes()
            .all(|letter| chars.next().is_some_and(|c| ignorecase_matches(c, letter)))
            && chars.as_str().trim_start_matches(is_space).starts_with(':')
    })
}

/// Whether a header name is `List-Unsubscribe` in any case (Python's `key.lower()`).
pub fn is_list_unsubscribe(header_name: &str) -> bool {
    if header_name.is_ascii() {
        header_name.eq_ignore_ascii_case(LIST_UNSUBSCRIBE)
    } else {
        lower(header_name) == LIST_UNSUBSCRIBE
    }
}

/// Whether an SPF/DKIM/DMARC result (RFC 8601 value) counts as failed.
pub fn auth_failed(result: Option<&str>) -> bool {
    matches!(result, Some("fail" | "softfail" | "permerror"))
}

/// Whether an SPF/DKIM/DMARC result (RFC 8601 value) says the check was not done.
pub fn auth_missing(result: Option<&str>) -> bool {
    result == Some("none")
}

/// Occurrences of urgency, credential and payment phrases in one text.
#[derive(Default, Debug, PartialEq, Eq)]
pub struct PhraseHits {
    /// Of `URGENCY_PHRASES`.
    pub urgency: u64,
    /// Of `CREDENTIAL_PHRASES`.
    pub credential: u64,
    /// Of `PAYMENT_PHRASES`.
    pub payment: u64,
}

struct PhraseMatchers {
    /// Matches the phrases as they are (lowercase).
    exact: OverlappingMatcher,
    /// Matches them in ASCII text of any case, which is matching Python's `text.lower()`.
    ascii_any_case: OverlappingMatcher,
    /// Per pattern of both matchers: (urgency, credential, payment) as 0/1.
    kinds: Vec<[u64; 3]>,
}

static PHRASES: LazyLock<PhraseMatchers> = LazyLock::new(|| {
    let mut phrases: Vec<&str> = URGENCY_PHRASES
        .iter()
        .chain(CREDENTIAL_PHRASES)
        .chain(PAYMENT_PHRASES)
        .copied()
        .collect();
    phrases.sort_unstable();
    phrases.dedup();
    let kinds = phrases
        .iter()
        .map(|phrase| {
            [URGENCY_PHRASES, CREDENTIAL_PHRASES, PAYMENT_PHRASES].map(|list| u64::from(list.contains(phrase)))
        })
        .collect();
    PhraseMatchers {
        exact: OverlappingMatcher::new(&phrases, false),
        ascii_any_case: OverlappingMatcher::new(&phrases, true),
        kinds,
    }
});

fn phrase_hits_with(matcher: &OverlappingMatcher, text: &str) -> PhraseHits {
    let mut totals = [0u64; 3];
    matcher.for_each_pattern(text.as_bytes(), |pattern| {
        for (total, kind) in totals.iter_mut().zip(PHRASES.kinds[pattern]) {
            *total += kind;
        }
    });
    let [urgency, credential, payment] = totals;
    PhraseHits {
        urgency,
        credential,
        payment,
    }
}

/// The phrase hits of `text` as given (case-sensitive).
///
/// Every occurrence of every phrase counts, overlapping ones included: "verify your" also counts
/// "verify", and "locked" counts as urgency and as credential language.
pub fn phrase_hits(text: &str) -> PhraseHits {
    phrase_hits_with(&PHRASES.exact, text)
}

/// The phrase hits of Python's `text.lower()` (as `phrase_hits`), and that lowercase text's
/// length in characters; `buffer` holds the lowercase text when it is not ASCII.
pub fn lowercase_phrase_hits(text: &str, buffer: &mut String) -> (PhraseHits, usize) {
    if text.is_ascii() {
        // Python lowercases ASCII as ASCII: matching either case needs no lowercase copy.
        return (phrase_hits_with(&PHRASES.ascii_any_case, text), text.len());
    }
    lower_into(text, buffer);
    (phrase_hits(buffer), char_len(buffer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_of_strips_and_lowercases() {
        assert_eq!(domain_of(Some("Bob <bob@Mail.Example.COM> ")), "mail.example.com");
        assert_eq!(domain_of(Some("no-at-sign")), "no-at-sign");
        assert_eq!(domain_of(Some("a@")), "");
        assert_eq!(domain_of(None), "");
    }

    #[test]
    fn registrable_label_handles_two_part_suffixes() {
        let label = |domain: &'static str| &domain[registrable_label(domain)];
        assert_eq!(label("login.paypa1.com"), "paypa1");
        assert_eq!(label("shop.example.co.uk"), "example");
        assert_eq!(label("example.co.uk"), "example");
        assert_eq!(label("a.com.x"), "com");
        assert_eq!(label("paypal.com."), "com");
        assert_eq!(label("localhost"), "localhost");
    }

    #[test]
    fn one_edit() {
        assert!(within_one_edit(b"amazn", b"amazon"));
        assert!(within_one_edit(b"amazon", b"amazn"));
        assert!(within_one_edit(b"amazpn", b"amazon"));
        assert!(within_one_edit(b"amazo", b"amazon"));
        assert!(within_one_edit(b"mazon", b"amazon"));
        assert!(within_one_edit(b"aamazon", b"amazon"));
        assert!(!within_one_edit(b"amazon", b"amazon"));
        assert!(!within_one_edit(b"amzaon", b"amazon"));
        assert!(!within_one_edit(b"amazn", b"amazonx"));
        assert!(!within_one_edit(b"amz", b"amazon"));
    }

    #[test]
    fn lookalikes() {
        for domain in [
            "paypa1.com",
            "rnicrosoft.com",
            "amazn.com",
            "paypal.com.account-check.xyz",
            "mydhl.io",
        ] {
            assert!(is_lookalike_domain(domain), "{domain}");
        }
        for domain in ["paypal.com", "mail.paypal.com", "acme.com", "dhl.example.org", ""] {
            assert!(!is_lookalike_domain(domain), "{domain}");
        }
    }

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("https://user@Login.Example.com:8443/x"), "login.example.com");
        assert_eq!(url_host("http://[2001:db8::1]:80/"), "2001:db8::1");
        assert_eq!(url_host("http://[2001:db8::1/"), "");
        assert_eq!(url_host("www.example.com./x"), "www.example.com");
        assert_eq!(url_host("mailto:a@b.example"), "b.example");
    }

    #[test]
    fn ipv4_hosts() {
        assert!(is_ipv4("192.0.2.7"));
        assert!(is_ipv4("192.0.2.7\n"));
        assert!(!is_ipv4("192.0.2.7\n\n"));
        assert!(!is_ipv4("1.2.3.4.5"));
        assert!(!is_ipv4("1.2.3.1234"));
    }

    #[test]
    fn reply_or_forward_subjects() {
        assert!(is_reply_or_forward("  Re : lunch"));
        assert!(is_reply_or_forward("FWD: x"));
        assert!(is_reply_or_forward("\u{17f}v: x"));
        assert!(!is_reply_or_forward("Reminder: x"));
    }

    #[test]
    fn phrases_overlap_and_count_per_kind() {
        let hits = phrase_hits("verify your account is locked");
        assert_eq!(
            hits,
            PhraseHits {
                urgency: 2,
                credential: 2,
                payment: 0
            }
        );
    }

    /// Every occurrence of every phrase by brute force: Python's overlapping count.
    fn naive_phrase_hits(text: &str) -> PhraseHits {
        let count = |phrases: &[&str]| -> u64 {
            let occurrences = |phrase: &str| (0..text.len()).filter(|&at| text[at..].starts_with(phrase)).count();
            phrases.iter().map(|phrase| occurrences(phrase) as u64).sum()
        };
        PhraseHits {
            urgency: count(URGENCY_PHRASES),
            credential: count(CREDENTIAL_PHRASES),
            payment: count(PAYMENT_PHRASES),
        }
    }

    #[test]
    fn phrases_are_counted_once_wherever_the_walks_split_the_text() {
        for phrase in ["iban", "within 24 hours", "verify your", "locked"] {
            for len in 0usize..140 {
                for at in 0..=len.saturating_sub(phrase.len()) {
                    let mut text = "x".repeat(len);
                    if at + phrase.len() <= len {
                        text.replace_range(at..at + phrase.len(), phrase);
                    }
                    assert_eq!(phrase_hits(&text), naive_phrase_hits(&text), "{text:?}");
                }
            }
        }
        let dense = "verify your locked ibank details payment ".repeat(9);
        assert_eq!(phrase_hits(&dense), naive_phrase_hits(&dense));
    }

    #[test]
    fn lowercase_phrase_hits_lowercase_like_python() {
        let mut buffer = String::new();
        let (hits, len) = lowercase_phrase_hits("URGENT \u{130}NVOICE", &mut buffer);
        assert_eq!((hits.urgency, hits.payment, len), (1, 0, 15));
        let (hits, len) = lowercase_phrase_hits("LOC\u{212a}ED Invoice", &mut buffer);
        assert_eq!((hits.urgency, hits.credential, hits.payment, len), (1, 1, 1, 14));
    }
}
