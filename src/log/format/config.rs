//! A web server's configuration read for its access logs' formats:
//! Apache (`LogFormat`, `CustomLog`, `Include`, `IncludeOptional`, with
//! globs and `${VAR}` from the environment or Debian's `envvars`), nginx
//! (`log_format` with its multi-line strings and `escape=`, `access_log`,
//! `include`), and a Caddyfile's `log { output file PATH }` (JSON lines).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{compile_apache, compile_nginx, presets, FormatError, LogFormat, NamedFormat};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read { file: String, source: std::io::Error },
    #[error("{file}:{line}: {what}")]
    Syntax { file: String, line: usize, what: String },
    #[error("{file}:{line}: format {name:?}: {source}")]
    Format { file: String, line: usize, name: String, source: FormatError },
    #[error("{file}: includes nest more than 32 deep (a loop?)")]
    Depth { file: String },
    #[error("{0}: no access-log format or log file found (expected Apache LogFormat/CustomLog, nginx log_format/access_log, or a Caddyfile log block)")]
    Empty(String),
}

/// What a configuration says about its access logs.
#[derive(Debug, Default)]
pub struct LogConfig {
    /// Named formats (`LogFormat ... nickname`, `log_format name ...`).
    pub formats: Vec<(String, Arc<NamedFormat>)>,
    /// Log files and the format each is written in.
    pub logs: Vec<(PathBuf, Arc<NamedFormat>)>,
}

impl LogConfig {
    /// The format of a named nickname (`--log-format NAME`).
    pub fn named(&self, name: &str) -> Option<Arc<NamedFormat>> {
        self.formats.iter().rev().find(|(n, _)| n == name).map(|(_, f)| f.clone())
    }

    /// The format the config writes `log` in: by its path (also through
    /// symlinks), then by a rotated name (`access.log.1`, `.gz`).
    pub fn for_path(&self, log: &Path) -> Option<Arc<NamedFormat>> {
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let want = canon(log);
        if let Some((_, f)) = self.logs.iter().rev().find(|(p, _)| canon(p) == want || p == log) {
            return Some(f.clone());
        }
        let name = log.file_name()?.to_string_lossy().into_owned();
        self.logs
            .iter()
            .rev()
            .find(|(p, _)| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    name.strip_prefix(n.as_ref()).is_some_and(|rest| rest.starts_with('.'))
                })
            })
            .map(|(_, f)| f.clone())
    }

    /// Every distinct format, for choosing one from a file's lines.
    pub fn all(&self) -> Vec<Arc<NamedFormat>> {
        let mut v: Vec<Arc<NamedFormat>> = Vec::new();
        for f in self.formats.iter().map(|x| &x.1).chain(self.logs.iter().map(|x| &x.1)) {
            if !v.iter().any(|g| Arc::ptr_eq(g, f)) {
                v.push(f.clone());
            }
        }
        v
    }
}

/// Reads a configuration file (Apache, nginx or Caddyfile, told apart by
/// their directives).
pub fn read(path: &Path) -> Result<LogConfig, ConfigError> {
    let text = read_text(path)?;
    let mut cfg = LogConfig::default();
    let lower = text.to_ascii_lowercase();
    if lower.contains("log_format") || lower.contains("access_log") || lower.contains("http {") || lower.contains("http{") {
        nginx_file(path, &mut cfg, 0)?;
    } else if lower.contains("output file") {
        caddyfile(path, &text, &mut cfg);
    } else {
        let root = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut st = ApacheState { root, env: envvars(path) };
        apache_file(path, &mut cfg, &mut st, 0)?;
    }
    if cfg.formats.is_empty() && cfg.logs.is_empty() {
        return Err(ConfigError::Empty(path.display().to_string()));
    }
    Ok(cfg)
}

fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|source| ConfigError::Read { file: path.display().to_string(), source })
}

/// Paths matching a pattern whose components may hold `*`, `?`, `[...]`-free globs.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for comp in pattern.components() {
        let c = comp.as_os_str().to_string_lossy().into_owned();
        if !c.contains('*') && !c.contains('?') {
            for f in &mut found {
                f.push(&c);
            }
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            let Ok(rd) = std::fs::read_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir }) else {
                continue;
            };
            let mut names: Vec<String> = rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            for n in names {
                if wild(c.as_bytes(), n.as_bytes()) && !n.starts_with('.') {
                    next.push(dir.join(n));
                }
            }
        }
        found = next;
    }
    found.into_iter().filter(|p| p.exists()).collect()
}

fn wild(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wild(&p[1..], s) || (!s.is_empty() && wild(p, &s[1..])),
        (Some(b'?'), Some(_)) => wild(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wild(&p[1..], &s[1..]),
        _ => false,
    }
}

struct ApacheState {
    root: PathBuf,
    env: Vec<(String, String)>,
}

/// Debian's `envvars` beside `apache2.conf`: `export APACHE_LOG_DIR=...`.
fn envvars(conf: &Path) -> Vec<(String, String)> {
    let Some(dir) = conf.parent() else { return Vec::new() };
    let Ok(text) = std::fs::read_to_string(dir.join("envvars")) else { return Vec::new() };
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').replace("$SUFFIX", "")))
        .collect()
}

impl ApacheState {
    fn expand(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let Some(j) = rest[i..].find('}') else { break };
            let name = &rest[i + 2..i + j];
            let v = std::env::var(name)
                .ok()
                .or_else(|| self.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
                .unwrap_or_default();
            out.push_str(&v);
            rest = &rest[i + j + 1..];
        }
        out.push_str(rest);
        out
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = PathBuf::from(self.expand(p));
        if p.is_absolute() {
            p
        } else {
            self.root.join(p)
        }
    }
}

/// Apache's argument words: quoted strings lose their quotes, `\"` in
/// them is a quote.
fn apache_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_whitespace() {
            i += 1;
            continue;
        }
        let mut w = String::new();
        if b[i] == '"' || b[i] == '\'' {
            let q = b[i];
            i += 1;
            while i < b.len() && b[i] != q {
                if b[i] == '\\' && i + 1 < b.len() && (b[i + 1] == q || b[i + 1] == '\\') {
                    // Kept for the format parser, which reads `\"` and `\\` itself.
                    w.push('\\');
                    i += 1;
                }
                w.push(b[i]);
                i += 1;
            }
            i += 1;
        } else {
            while i < b.len() && !b[i].is_whitespace() {
                w.push(b[i]);
                i += 1;
            }
        }
        out.push(w);
    }
    out
}

fn apache_file(path: &Path, cfg: &mut LogConfig, st: &mut ApacheState, depth: usize) -> Result<(), ConfigError> {
    if depth > 32 {
        return Err(ConfigError::Depth { file: path.display().to_string() });
    }
    let text = read_text(path)?;
    let file = path.display().to_string();
    let mut joined = String::new();
    let mut start = 0;
    for (n, raw) in text.lines().enumerate() {
        if joined.is_empty() {
            start = n + 1;
        }
        if let Some(cont) = raw.strip_suffix('\\') {
            joined.push_str(cont);
            continue;
        }
        joined.push_str(raw);
        let line = std::mem::take(&mut joined);
        let w = apache_words(line.trim());
        let Some(d) = w.first() else { continue };
        if d.starts_with('#') {
            continue;
        }
        let syntax = |what: &str| ConfigError::Syntax { file: file.clone(), line: start, what: what.to_string() };
        match d.to_ascii_lowercase().as_str() {
            "serverroot" if w.len() > 1 => st.root = PathBuf::from(st.expand(&w[1])),
            "logformat" => {
                let fmt = w.get(1).ok_or_else(|| syntax("LogFormat without a format"))?;
                let name = w.get(2).cloned().unwrap_or_else(|| "default".into());
                let format = compile_apache(fmt, false)
                    .map_err(|source| ConfigError::Format { file: file.clone(), line: start, name: name.clone(), source })?;
                cfg.formats.push((name.clone(), Arc::new(NamedFormat { name, format })));
            }
            "customlog" | "transferlog" => {
                let target = w.get(1).ok_or_else(|| syntax("CustomLog without a file"))?;
                if target.starts_with('|') {
                    continue; // a piped logger: no file to match
                }
                let spec = if d.eq_ignore_ascii_case("transferlog") { "default" } else { w.get(2).map_or("combined", String::as_str) };
                let f = if apache::looks_like_format(spec) {
                    let format = compile_apache(spec, false)
                        .map_err(|source| ConfigError::Format { file: file.clone(), line: start, name: spec.to_string(), source })?;
                    Arc::new(NamedFormat { name: "custom".into(), format })
                } else if let Some(f) = cfg.named(spec) {
                    f
                } else if let Some(p) = presets::find(spec) {
                    Arc::new(p.format())
                } else {
                    return Err(syntax(&format!("CustomLog uses format {spec:?}, which no LogFormat defined before it")));
                };
                cfg.logs.push((st.path(target), f));
            }
            "include" | "includeoptional" => {
                let pat = w.get(1).ok_or_else(|| syntax("Include without a path"))?;
                let p = st.path(pat);
                let found = glob(&p);
                if found.is_empty() && d.eq_ignore_ascii_case("include") && !pat.contains('*') {
                    return Err(syntax(&format!("Include {}: no such file", p.display())));
                }
                for f in found {
                    if f.is_dir() {
                        for g in glob(&f.join("*")) {
                            apache_file(&g, cfg, st, depth + 1)?;
                        }
                    } else {
                        apache_file(&f, cfg, st, depth + 1)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

mod apache {
    /// A CustomLog's second argument is a format when it holds a directive.
    pub fn looks_like_format(s: &str) -> bool {
        s.contains('%')
    }
}

/// nginx tokens: words, quoted strings (unquoted, escapes read), `;`
/// `{` `}`, with the line each starts on; `#` comments dropped.
fn nginx_tokens(text: &str) -> Vec<(String, bool, usize)> {
    let b: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
        }
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == ';' || c == '{' || c == '}' {
            out.push((c.to_string(), false, line));
            i += 1;
        } else if c == '"' || c == '\'' {
            let at = line;
            let mut w = String::new();
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == '\n' {
                    line += 1;
                }
                if b[i] == '\\' && i + 1 < b.len() {
                    i += 1;
                    w.push(match b[i] {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        x => x,
                    });
                } else {
                    w.push(b[i]);
                }
                i += 1;
            }
            i += 1;
            out.push((w, true, at));
        } else {
            let mut w = String::new();
            while i < b.len() && !b[i].is_whitespace() && !";{}".contains(b[i]) {
                w.push(b[i]);
                i += 1;
            }
            out.push((w, false, line));
        }
    }
    out
}

fn nginx_file(path: &Path, cfg: &mut LogConfig, depth: usize) -> Result<(), ConfigError> {
    if depth > 32 {
        return Err(ConfigError::Depth { file: path.display().to_string() });
    }
    let text = read_text(path)?;
    let file = path.display().to_string();
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let toks = nginx_tokens(&text);
    let mut k = 0;
    while k < toks.len() {
        // One statement: words up to `;`, `{` or `}`.
        let start = k;
        while k < toks.len() && (toks[k].1 || !matches!(toks[k].0.as_str(), ";" | "{" | "}")) {
            k += 1;
        }
        let stmt = &toks[start..k];
        k += 1;
        let Some((d, _, line)) = stmt.first() else { continue };
        let line = *line;
        let args: Vec<&str> = stmt[1..].iter().map(|t| t.0.as_str()).collect();
        let syntax = |what: &str| ConfigError::Syntax { file: file.clone(), line, what: what.to_string() };
        match d.as_str() {
            "log_format" => {
                let name = args.first().ok_or_else(|| syntax("log_format without a name"))?.to_string();
                let mut rest = &args[1..];
                if rest.first().is_some_and(|a| a.starts_with("escape=")) {
                    if !matches!(rest[0], "escape=default" | "escape=json" | "escape=none") {
                        return Err(syntax(&format!("unknown {}", rest[0])));
                    }
                    rest = &rest[1..];
                }
                let fmt: String = rest.concat();
                let format = compile_nginx(&fmt, presets::Tail::Exact)
                    .map_err(|source| ConfigError::Format { file: file.clone(), line, name: name.clone(), source })?;
                cfg.formats.push((name.clone(), Arc::new(NamedFormat { name, format })));
            }
            "access_log" => {
                let target = *args.first().ok_or_else(|| syntax("access_log without a file"))?;
                if target == "off" || target.starts_with("syslog:") || target.contains('$') {
                    continue;
                }
                let spec = args.get(1).copied().filter(|a| !a.contains('=')).unwrap_or("combined");
                let f = match cfg.named(spec) {
                    Some(f) => f,
                    None if spec == "combined" => Arc::new(NamedFormat::fast()),
                    None => return Err(syntax(&format!("access_log uses format {spec:?}, which no log_format defined before it"))),
                };
                let p = PathBuf::from(target);
                cfg.logs.push((if p.is_absolute() { p } else { dir.join(p) }, f));
            }
            "include" => {
                let pat = args.first().ok_or_else(|| syntax("include without a path"))?;
                let p = PathBuf::from(pat);
                let p = if p.is_absolute() { p } else { dir.join(p) };
                for f in glob(&p) {
                    nginx_file(&f, cfg, depth + 1)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A Caddyfile: every `output file PATH` inside a `log` block is JSON.
fn caddyfile(path: &Path, text: &str, cfg: &mut LogConfig) {
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let f = Arc::new(NamedFormat { name: "caddy".into(), format: LogFormat::Caddy });
    for l in text.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if let ["output", "file", p, ..] = w.as_slice() {
            let p = PathBuf::from(p.trim_matches('"'));
            cfg.logs.push((if p.is_absolute() { p } else { dir.join(p) }, f.clone()));
        }
    }
    if !cfg.logs.is_empty() {
        cfg.formats.push(("caddy".into(), f));
    }
}
