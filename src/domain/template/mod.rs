//! Mustache templates for custom webhook bodies.
//!
//! Our own small engine rather than a crate (see docs/DECISIONS.md): it reports errors with
//! line and column, escapes for the body's content type (JSON-safe for JSON bodies), and
//! never reads partials from disk. Conformance is checked against the official Mustache
//! spec files in `tests/vectors/mustache`.

use std::collections::HashMap;

use serde_json::Value;

/// How interpolated values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Mustache's default: `& < > " '` as HTML entities.
    Html,
    /// A string value becomes the inside of a JSON string literal (quotes, backslashes and
    /// control characters escaped); any other value is written as JSON. The body stays
    /// valid JSON whatever the values contain.
    Json,
    /// Each value percent-encoded as a form field's value (`&`, `=`, `+`, newlines and
    /// the rest), so `a={{x}}&b={{y}}` stays a well-formed form whatever they contain.
    Form,
    /// Values as they are.
    Raw,
}

impl Escape {
    /// JSON escaping for JSON media types, HTML escaping for HTML/XML, percent-encoding for
    /// forms, raw otherwise.
    pub fn for_content_type(content_type: &str) -> Escape {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence == "application/json" || essence.ends_with("+json") {
            Escape::Json
        } else if essence == "text/html" || essence.ends_with("/xml") || essence.ends_with("+xml") {
            Escape::Html
        } else if essence == "application/x-www-form-urlencoded" {
            Escape::Form
        } else {
            Escape::Raw
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct TemplateError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Value {
        name: String,
        escaped: bool,
    },
    Section {
        name: String,
        inverted: bool,
        children: Vec<Node>,
    },
    Partial {
        name: String,
        indent: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagKind {
    Value { escaped: bool },
    Open { inverted: bool },
    Close,
    Comment,
    Delimiters,
    Partial,
}

impl TagKind {
    /// Tags that vanish with their whole line when they stand alone on it.
    fn can_stand_alone(self) -> bool {
        !matches!(self, TagKind::Value { .. })
    }
}

struct Tag {
    kind: TagKind,
    name: String,
    /// Byte range of the tag in the source.
    start: usize,
    end: usize,
}

/// Sections (and inverted sections) may nest this deep in one template; deeper is a
/// compile error. Rendering and dropping a template recurse once per level, so without a
/// bound a 64 KiB template of nested sections overflows the stack and aborts the process.
pub const MAX_NESTING: usize = 32;
/// Levels of sections and partials together that one rendering descends at most; past it
/// nothing more is rendered (partials can include themselves).
const MAX_RENDER_DEPTH: usize = 64;

/// A rendering stops past these: a section looping over a long list inside another such
/// section could otherwise take the process's memory, or its time while writing nothing.
pub const MAX_RENDER_BYTES: usize = 1024 * 1024;
const MAX_RENDER_STEPS: usize = 1_000_000;

/// Why a rendering was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RenderLimit {
    #[error("renders more than 1 MiB for this event (the limit)")]
    Output,
    #[error("takes more than 1 000 000 steps for this event (the limit on render time)")]
    Steps,
}

fn position(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    (line, column)
}

fn error(source: &str, offset: usize, message: impl Into<String>) -> TemplateError {
    let (line, column) = position(source, offset);
    TemplateError {
        line,
        column,
        message: message.into(),
    }
}

/// Finds every tag, following `{{=<% %>=}}` delimiter changes.
fn scan(source: &str) -> Result<Vec<Tag>, TemplateError> {
    let (mut open, mut close) = ("{{".to_owned(), "}}".to_owned());
    let mut tags = Vec::new();
    let mut pos = 0;
    while let Some(found) = source[pos..].find(&open) {
        let start = pos + found;
        let inner_start = start + open.len();
        let triple = source[inner_start..].starts_with('{');
        let closing = if triple {
            format!("}}{close}")
        } else {
            close.clone()
        };
        let inner_end = source[inner_start..]
            .find(&closing)
            .map(|i| inner_start + i)
            .ok_or_else(|| {
                error(
                    source,
                    start,
                    format!("this tag is never closed with `{close}`"),
                )
            })?;
        let end = inner_end + closing.len();
        let content = source[inner_start..inner_end].trim();
        let (kind, name) = if triple {
            (TagKind::Value { escaped: false }, content[1..].trim())
        } else {
            match content.chars().next() {
                Some('&') => (TagKind::Value { escaped: false }, content[1..].trim()),
                Some('#') => (TagKind::Open { inverted: false }, content[1..].trim()),
                Some('^') => (TagKind::Open { inverted: true }, content[1..].trim()),
                Some('/') => (TagKind::Close, content[1..].trim()),
                Some('!') => (TagKind::Comment, ""),
                Some('>') => (TagKind::Partial, content[1..].trim()),
                Some('=') => {
                    let pair = content
                        .strip_prefix('=')
                        .and_then(|c| c.strip_suffix('='))
                        .map(str::split_whitespace)
                        .map(|parts| parts.collect::<Vec<_>>())
                        .filter(|parts| parts.len() == 2)
                        .ok_or_else(|| {
                            error(
                                source,
                                start,
                                "a delimiter change must look like {{=<% %>=}}",
                            )
                        })?;
                    open = pair[0].to_owned();
                    close = pair[1].to_owned();
                    (TagKind::Delimiters, "")
                }
                _ => (TagKind::Value { escaped: true }, content),
            }
        };
        if name.is_empty() && !matches!(kind, TagKind::Comment | TagKind::Delimiters) {
            return Err(error(source, start, "this tag has no name"));
        }
        tags.push(Tag {
            kind,
            name: name.to_owned(),
            start,
            end,
        });
        pos = end;
    }
    Ok(tags)
}

/// A tag alone on its line (only spaces or tabs beside it) takes the line with it.
/// Returns the range to cut and the indentation before the tag.
fn standalone_range(source: &str, tags: &[Tag], i: usize) -> Option<(usize, usize, String)> {
    let tag = &tags[i];
    if !tag.kind.can_stand_alone() {
        return None;
    }
    let line_start = source[..tag.start].rfind('\n').map_or(0, |p| p + 1);
    let line_end = source[tag.end..]
        .find('\n')
        .map_or(source.len(), |p| tag.end + p);
    let before = &source[line_start..tag.start];
    let after = source[tag.end..line_end].trim_end_matches('\r');
    let blank = |s: &str| s.chars().all(|c| c == ' ' || c == '\t');
    let alone = blank(before)
        && blank(after)
        && (i == 0 || tags[i - 1].end <= line_start)
        && tags.get(i + 1).is_none_or(|next| next.start > line_end);
    let cut_end = if line_end < source.len() {
        line_end + 1
    } else {
        line_end
    };
    alone.then(|| (line_start, cut_end, before.to_owned()))
}

pub fn compile(source: &str) -> Result<Template, TemplateError> {
    let tags = scan(source)?;
    // Parents of the section being built, each with the opening tag's name and offset.
    let mut stack: Vec<(Vec<Node>, String, bool, usize)> = Vec::new();
    let mut nodes = Vec::new();
    let mut cursor = 0;
    for (i, tag) in tags.iter().enumerate() {
        let (cut_start, cut_end, indent) =
            standalone_range(source, &tags, i).unwrap_or((tag.start, tag.end, String::new()));
        if cut_start > cursor {
            nodes.push(Node::Text(source[cursor..cut_start].to_owned()));
        }
        cursor = cut_end;
        match tag.kind {
            TagKind::Value { escaped } => nodes.push(Node::Value {
                name: tag.name.clone(),
                escaped,
            }),
            TagKind::Open { inverted } => {
                if stack.len() >= MAX_NESTING {
                    return Err(error(
                        source,
                        tag.start,
                        format!("sections nest deeper than {MAX_NESTING} levels here, the limit"),
                    ));
                }
                stack.push((
                    std::mem::take(&mut nodes),
                    tag.name.clone(),
                    inverted,
                    tag.start,
                ));
            }
            TagKind::Close => {
                let (parent, name, inverted, _) = stack.pop().ok_or_else(|| {
                    error(
                        source,
                        tag.start,
                        format!(
                            "`{{{{/{}}}}}` closes a section that was never opened",
                            tag.name
                        ),
                    )
                })?;
                if name != tag.name {
                    return Err(error(
                        source,
                        tag.start,
                        format!(
                            "`{{{{/{}}}}}` closes section `{name}`, which must be closed first",
                            tag.name
                        ),
                    ));
                }
                let children = std::mem::replace(&mut nodes, parent);
                nodes.push(Node::Section {
                    name,
                    inverted,
                    children,
                });
            }
            TagKind::Partial => nodes.push(Node::Partial {
                name: tag.name.clone(),
                indent,
            }),
            TagKind::Comment | TagKind::Delimiters => {}
        }
    }
    if let Some((_, name, _, start)) = stack.pop() {
        return Err(error(
            source,
            start,
            format!("section `{name}` is never closed with {{{{/{name}}}}}"),
        ));
    }
    if cursor < source.len() {
        nodes.push(Node::Text(source[cursor..].to_owned()));
    }
    Ok(Template { nodes })
}

impl Template {
    pub fn has_partials(&self) -> bool {
        fn any(nodes: &[Node]) -> bool {
            nodes.iter().any(|n| match n {
                Node::Partial { .. } => true,
                Node::Section { children, .. } => any(children),
                _ => false,
            })
        }
        any(&self.nodes)
    }

    pub fn render(&self, data: &Value, escape: Escape) -> Result<String, RenderLimit> {
        self.render_with_partials(data, escape, &HashMap::new())
    }

    /// Renders for a save-time check against sample data: a value the sample lacks stands
    /// in as `0`, which is valid JSON in and out of quotes, so only the template's own text
    /// and the real types of the values the sample has are judged.
    pub fn render_probe(&self, data: &Value, escape: Escape) -> Result<String, RenderLimit> {
        let partials = HashMap::new();
        Renderer::new(escape, &partials, Some("0")).run(&self.nodes, data)
    }

    /// Partials come only from `partials` (never from files); a missing one renders empty.
    pub fn render_with_partials(
        &self,
        data: &Value,
        escape: Escape,
        partials: &HashMap<String, String>,
    ) -> Result<String, RenderLimit> {
        Renderer::new(escape, partials, None).run(&self.nodes, data)
    }
}

struct Renderer<'a> {
    escape: Escape,
    partials: &'a HashMap<String, String>,
    /// What a name that resolves to nothing renders as (the spec says: nothing).
    missing: Option<&'static str>,
    steps: std::cell::Cell<usize>,
    stopped: std::cell::Cell<Option<RenderLimit>>,
}

fn lookup<'v>(stack: &[&'v Value], name: &str) -> Option<&'v Value> {
    if name == "." {
        return stack.last().copied();
    }
    let mut parts = name.split('.');
    let first = parts.next()?;
    let mut value = stack.iter().rev().find_map(|frame| frame.get(first))?;
    for part in parts {
        value = value.get(part)?;
    }
    Some(value)
}

fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

impl<'a> Renderer<'a> {
    fn new(
        escape: Escape,
        partials: &'a HashMap<String, String>,
        missing: Option<&'static str>,
    ) -> Self {
        Renderer {
            escape,
            partials,
            missing,
            steps: std::cell::Cell::new(0),
            stopped: std::cell::Cell::new(None),
        }
    }

    fn run(&self, nodes: &[Node], data: &Value) -> Result<String, RenderLimit> {
        let mut out = String::new();
        self.nodes(nodes, &mut vec![data], &mut out, 0);
        match self.stopped.get() {
            Some(limit) => Err(limit),
            None => Ok(out),
        }
    }

    /// Counts a step; true once a limit is passed (the rendering then unwinds).
    fn over_limit(&self, out: &str) -> bool {
        if self.stopped.get().is_none() {
            let steps = self.steps.get() + 1;
            self.steps.set(steps);
            if out.len() > MAX_RENDER_BYTES {
                self.stopped.set(Some(RenderLimit::Output));
            } else if steps > MAX_RENDER_STEPS {
                self.stopped.set(Some(RenderLimit::Steps));
            }
        }
        self.stopped.get().is_some()
    }

    fn nodes<'v>(
        &self,
        nodes: &'v [Node],
        stack: &mut Vec<&'v Value>,
        out: &mut String,
        depth: usize,
    ) {
        for node in nodes {
            if self.over_limit(out) {
                return;
            }
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Value { name, escaped } => match lookup(stack, name) {
                    Some(value) => self.interpolate(value, *escaped, out),
                    None => out.push_str(self.missing.unwrap_or_default()),
                },
                Node::Section {
                    name,
                    inverted,
                    children,
                } => {
                    let value = lookup(stack, name);
                    if depth >= MAX_RENDER_DEPTH {
                        continue;
                    }
                    if *inverted {
                        if !truthy(value) {
                            self.nodes(children, stack, out, depth + 1);
                        }
                    } else if truthy(value) {
                        let value = value.expect("truthy values exist");
                        let items: Vec<&Value> = match value {
                            Value::Array(items) => items.iter().collect(),
                            other => vec![other],
                        };
                        for item in items {
                            if self.over_limit(out) {
                                return;
                            }
                            stack.push(item);
                            self.nodes(children, stack, out, depth + 1);
                            stack.pop();
                        }
                    }
                }
                Node::Partial { name, indent } => self.partial(name, indent, stack, out, depth),
            }
        }
    }

    fn partial(&self, name: &str, indent: &str, stack: &[&Value], out: &mut String, depth: usize) {
        let Some(source) = self.partials.get(name) else {
            return;
        };
        if depth >= MAX_RENDER_DEPTH {
            return;
        }
        let indented: String = if indent.is_empty() {
            source.clone()
        } else {
            source
                .split_inclusive('\n')
                .map(|line| format!("{indent}{line}"))
                .collect()
        };
        if let Ok(template) = compile(&indented) {
            // The partial's nodes live only for this call; render them with a stack of
            // the same values.
            let mut frames: Vec<&Value> = stack.to_vec();
            self.nodes(&template.nodes, &mut frames, out, depth + 1);
        }
    }

    fn interpolate(&self, value: &Value, escaped: bool, out: &mut String) {
        let text = match value {
            Value::Null => return,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => other.to_string(),
        };
        match (escaped, self.escape, value) {
            (false, _, _) | (true, Escape::Raw, _) => out.push_str(&text),
            (true, Escape::Html, _) => {
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
            }
            (true, Escape::Json, Value::String(s)) => {
                let quoted = serde_json::to_string(s).expect("strings serialise");
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
            (true, Escape::Json, _) => out.push_str(&text),
            (true, Escape::Form, _) => {
                out.extend(url::form_urlencoded::byte_serialize(text.as_bytes()));
            }
        }
    }
}

#[cfg(test)]
mod tests;
