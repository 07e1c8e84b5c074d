//! The console's HTML: escaping, the page layout, forms with their CSRF token, and the
//! hand-drawn SVG charts. Every value from outside (config names, plugin reasons,
//! ticket data) goes through [`esc`]; pages carry no script and no inline style, so the
//! Content-Security-Policy can forbid both.

use std::fmt::Write;

/// The stylesheet, served at `/console/console.css`.
pub const CSS: &str = include_str!("console.css");

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for one component of a URL path or query.
pub fn url(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The console's pages, for the navigation bar.
const NAV: [(&str, &str); 5] = [
    ("brands", "Brands"),
    ("plugins", "Plugins"),
    ("inbox", "Inbox"),
    ("runs", "Runs"),
    ("report", "Report"),
];

/// What the layout needs to know about the signed-in operator.
pub struct Chrome<'a> {
    /// The operator's name.
    pub operator: &'a str,
    /// The session's CSRF token (for the sign-out form).
    pub csrf: &'a str,
    /// The page's key in the navigation.
    pub page: &'a str,
    /// A message from the last action.
    pub flash: Option<String>,
    /// Reload the page every this many seconds (a live list).
    pub refresh_secs: Option<u32>,
}

/// A whole page around `body` (already HTML).
pub fn page(title: &str, chrome: &Chrome<'_>, body: &str) -> String {
    let mut nav = String::new();
    for (key, label) in NAV {
        let current = if key == chrome.page {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav, "<a href=\"/console/{key}\"{current}>{label}</a>");
    }
    let refresh = chrome
        .refresh_secs
        .map(|s| format!("<meta http-equiv=\"refresh\" content=\"{s}\">"))
        .unwrap_or_default();
    let flash = chrome
        .flash
        .as_deref()
        .map(|m| format!("<p class=\"flash\" role=\"status\">{}</p>", esc(m)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{refresh}\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Zendesk gateway console</title>\
         <link rel=\"stylesheet\" href=\"/console/console.css\"></head><body>\
         <header><strong>Zendesk gateway</strong><nav>{nav}</nav>\
         <form method=\"post\" action=\"/console/logout\" class=\"inline\">{csrf}\
         <span class=\"who\">{who}</span> <button type=\"submit\">Sign out</button></form></header>\
         <main><h1>{title}</h1>{flash}{body}</main></body></html>",
        title = esc(title),
        csrf = csrf_field(chrome.csrf),
        who = esc(chrome.operator),
    )
}

/// The sign-in page.
pub fn sign_in(message: Option<&str>) -> String {
    let message = message
        .map(|m| format!("<p class=\"flash error\" role=\"alert\">{}</p>", esc(m)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Sign in · Zendesk gateway console</title>\
         <link rel=\"stylesheet\" href=\"/console/console.css\"></head><body class=\"signin\">\
         <main><h1>Zendesk gateway console</h1>{message}\
         <form method=\"post\" action=\"/console/login\">\
         <label>Admin token <input type=\"password\" name=\"token\" autocomplete=\"current-password\" required autofocus></label>\
         <label>Your name (recorded with your changes) <input type=\"text\" name=\"operator\" maxlength=\"64\"></label>\
         <button type=\"submit\">Sign in</button></form></main></body></html>"
    )
}

/// The hidden CSRF field of a form.
pub fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    )
}

/// A one-button form posting to `action` (a console path, already escaped for a URL),
/// with hidden `fields`.
pub fn button(action: &str, csrf: &str, label: &str, fields: &[(&str, &str)]) -> String {
    let mut hidden = csrf_field(csrf);
    for (name, value) in fields {
        let _ = write!(
            hidden,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            esc(name),
            esc(value)
        );
    }
    format!(
        "<form method=\"post\" action=\"{}\" class=\"inline\">{hidden}<button type=\"submit\">{}</button></form>",
        esc(action),
        esc(label)
    )
}

/// One series of a bar chart.
pub struct Series<'a> {
    /// Its name in the legend.
    pub name: &'a str,
    /// Its colour.
    pub colour: &'a str,
    /// One value per label.
    pub values: Vec<f64>,
}

/// A grouped bar chart as SVG: one group per label, one bar per series, with axis
/// labels and a legend. `unit` follows the largest value on the axis.
pub fn bar_chart(title: &str, labels: &[String], series: &[Series<'_>], unit: &str) -> String {
    const W: f64 = 720.0;
    const H: f64 = 240.0;
    const LEFT: f64 = 48.0;
    const BOTTOM: f64 = 36.0;
    const TOP: f64 = 28.0;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let plot_w = W - LEFT - 8.0;
    let plot_h = H - BOTTOM - TOP;
    let groups = labels.len().max(1) as f64;
    let group_w = plot_w / groups;
    let bar_w = (group_w * 0.8 / series.len().max(1) as f64).max(1.0);
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{t}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title>{t}</title>\
         <text x=\"{LEFT}\" y=\"16\" font-size=\"13\" font-weight=\"bold\">{t}</text>\
         <line x1=\"{LEFT}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"#888\"/>\
         <text x=\"{lx}\" y=\"{ty}\" font-size=\"10\" text-anchor=\"end\">{max_label}</text>\
         <text x=\"{lx}\" y=\"{y0}\" font-size=\"10\" text-anchor=\"end\">0</text>",
        t = esc(title),
        y0 = TOP + plot_h,
        x1 = W - 8.0,
        lx = LEFT - 4.0,
        ty = TOP + 8.0,
        max_label = esc(&format!("{}{unit}", trim_number(max))),
    );
    for (g, label) in labels.iter().enumerate() {
        let gx = LEFT + g as f64 * group_w + group_w * 0.1;
        for (i, s) in series.iter().enumerate() {
            let v = s.values.get(g).copied().unwrap_or(0.0);
            let h = v / max * plot_h;
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {}{}</title></rect>",
                gx + i as f64 * bar_w,
                TOP + plot_h - h,
                bar_w,
                h,
                esc(s.colour),
                esc(&format!("{label} {}", s.name)),
                trim_number(v),
                esc(unit)
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            LEFT + g as f64 * group_w + group_w / 2.0,
            H - BOTTOM + 14.0,
            esc(label)
        );
    }
    let mut x = LEFT;
    for s in series {
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{y}\" width=\"10\" height=\"10\" fill=\"{c}\"/>\
             <text x=\"{tx}\" y=\"{ty}\" font-size=\"11\">{n}</text>",
            y = H - 14.0,
            c = esc(s.colour),
            tx = x + 14.0,
            ty = H - 5.0,
            n = esc(s.name)
        );
        x += 24.0 + 7.0 * s.name.len() as f64;
    }
    svg.push_str("</svg>");
    svg
}

fn trim_number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_charts() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        assert_eq!(url("a b/ü"), "a%20b%2F%C3%BC");
        let svg = bar_chart(
            "Runs <x>",
            &["2024-05-01".into()],
            &[Series {
                name: "resolved",
                colour: "#2a7",
                values: vec![3.0],
            }],
            "",
        );
        assert!(svg.starts_with("<svg") && svg.contains("Runs &lt;x&gt;"));
        assert!(
            !svg.contains("style="),
            "no inline style: the CSP forbids it"
        );
    }
}
