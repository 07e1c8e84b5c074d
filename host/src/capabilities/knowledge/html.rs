//! A Help Center article's HTML as plain text for the index and for plugins: block
//! elements become line breaks, list items dashes, links keep their text, scripts and
//! styles vanish, entities are decoded, runs of blank space collapse. Linear in the
//! input, with no allocation beyond the output: an article is untrusted input.

/// Plain text of `html`.
pub fn to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    let mut skip_until: Option<&'static str> = None;
    while !rest.is_empty() {
        if let Some(end_tag) = skip_until {
            match find_ci(rest, end_tag) {
                Some(i) => {
                    rest = &rest[i..];
                    skip_until = None;
                }
                None => break,
            }
        }
        match rest.find(['<', '&']) {
            None => {
                push_text(&mut out, rest);
                break;
            }
            Some(i) => {
                push_text(&mut out, &rest[..i]);
                rest = &rest[i..];
            }
        }
        if rest.starts_with('&') {
            let end = rest[..rest.len().min(12)].find(';');
            match end.and_then(|e| entity(&rest[1..e]).map(|c| (c, e))) {
                Some((c, e)) => {
                    push_text(&mut out, c.encode_utf8(&mut [0; 4]));
                    rest = &rest[e + 1..];
                }
                None => {
                    push_text(&mut out, "&");
                    rest = &rest[1..];
                }
            }
            continue;
        }
        // A tag: up to the next '>' (an unclosed one ends the text).
        let Some(close) = rest.find('>') else { break };
        let tag = &rest[1..close];
        rest = &rest[close + 1..];
        if tag.starts_with("!--") {
            // A comment may contain '>': skip to its end.
            if !tag.ends_with("--") {
                match rest.find("-->") {
                    Some(i) => rest = &rest[i + 3..],
                    None => break,
                }
            }
            continue;
        }
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let closing = tag.starts_with('/');
        match name.as_str() {
            "script" if !closing => skip_until = Some("</script"),
            "style" if !closing => skip_until = Some("</style"),
            "br" => out.push('\n'),
            "li" if !closing => {
                newline(&mut out);
                out.push_str("- ");
            }
            "p" | "div" | "ul" | "ol" | "table" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5"
            | "h6" | "blockquote" | "pre" | "section" | "article" | "hr" => {
                newline(&mut out);
                let heading = name.len() == 2 && name.starts_with('h') && name != "hr";
                if closing && (heading || name == "p") {
                    out.push('\n');
                }
            }
            "td" | "th" if closing => out.push(' '),
            _ => {}
        }
    }
    tidy(&out)
}

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn push_text(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_whitespace() {
            if !out.ends_with([' ', '\n']) && !out.is_empty() {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
}

fn newline(out: &mut String) {
    while out.ends_with(' ') {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

fn entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" | "#39" => '\'',
        "nbsp" => ' ',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "rsquo" => '’',
        "lsquo" => '‘',
        "rdquo" => '”',
        "ldquo" => '“',
        "eacute" => 'é',
        "euro" => '€',
        "copy" => '©',
        _ => {
            let n = name.strip_prefix('#')?;
            let code = match n.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => n.parse().ok()?,
            };
            char::from_u32(code)?
        }
    })
}

/// Trims each line and keeps at most one blank line in a row.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            blank += 1;
            if blank > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_readable_text() {
        let html = "<h2>Returns</h2><p>You can return items within <strong>30&nbsp;days</strong> &amp; get a refund.</p>\
                    <ul><li>Unworn</li><li>With tags &#8211; please</li></ul><script>alert('x<p>')</script>\
                    <!-- a > comment --><p>Questions? <a href=\"/hc/contact\">Contact us</a>.</p>";
        assert_eq!(
            to_text(html),
            "Returns\n\nYou can return items within 30 days & get a refund.\n\n- Unworn\n- With tags – please\nQuestions? Contact us."
        );
        assert_eq!(to_text("a &bogus; b &#xZZ; <"), "a &bogus; b &#xZZ;");
        assert_eq!(to_text(""), "");
        let big = "<p>word</p>".repeat(100_000);
        assert!(to_text(&big).len() < big.len());
    }
}
