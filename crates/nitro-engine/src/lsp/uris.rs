//! Documents are named `nitro:/<path>` between the engine and its users
//! (the window, other peers), with the path relative to the workspace; a
//! language server knows them by `file://` URIs in this peer's folder.
//! Requests are rewritten one way and results the other, wherever a URI
//! appears in the JSON (values and map keys), so no absolute path of this
//! machine leaves it and no request names a file outside the workspace.

use std::path::{Path, PathBuf};

use serde_json::Value;
use url::Url;

use super::LspError;
use crate::path::RelPath;

pub const SCHEME: &str = "nitro:/";

/// Converts between the two namings for one workspace folder.
#[derive(Debug, Clone)]
pub struct Uris {
    /// The folder, as the server is told it (`file:///.../root/`).
    root: Url,
    /// The folder's path, and the same with symlinks resolved.
    dirs: Vec<PathBuf>,
    /// Prefixes of absolute paths that texts must not show: the folder's,
    /// and the user's home.
    scrub: Vec<(String, String)>,
}

impl Uris {
    pub fn new(root: &Path) -> Result<Self, LspError> {
        let url = Url::from_directory_path(root).map_err(|()| LspError::Io(format!("{} is not an absolute path", root.display())))?;
        let mut dirs = vec![root.to_path_buf()];
        if let Ok(real) = std::fs::canonicalize(root)
            && real != root
        {
            dirs.push(real);
        }
        let mut scrub: Vec<(String, String)> =
            dirs.iter().map(|d| (format!("{}/", d.display().to_string().trim_end_matches('/')), String::new())).collect();
        if let Some(home) = std::env::var_os("HOME").filter(|h| h.len() > 1) {
            scrub.push((format!("{}/", Path::new(&home).display().to_string().trim_end_matches('/')), "~/".into()));
        }
        Ok(Self { root: url, dirs, scrub })
    }

    pub fn root(&self) -> &str {
        self.root.as_str()
    }

    /// The `nitro:/` name of a workspace path.
    pub fn name(path: &RelPath) -> String {
        let mut url = Url::parse("nitro:/").unwrap_or_else(|_| unreachable!("a constant URL parses"));
        url.set_path(path.as_str());
        url.to_string()
    }

    /// The workspace path a `nitro:/` name stands for. Decoded once; a
    /// backslash, a `%` left after decoding or a control character is
    /// refused, so no second decoding anywhere can climb out.
    pub fn path_of(name: &str) -> Result<RelPath, LspError> {
        let outside = || LspError::Outside(name.to_owned());
        let rest = name.strip_prefix(SCHEME).ok_or_else(outside)?;
        let decoded = percent_decode(rest).ok_or_else(outside)?;
        if decoded.contains(['\\', '%']) || decoded.chars().any(char::is_control) {
            return Err(outside());
        }
        RelPath::new(&decoded).map_err(|_| outside())
    }

    /// The `nitro:/` names a request mentions (values and map keys); one
    /// that mentions a `file:` URI anywhere is refused.
    pub fn names_in(v: &Value) -> Result<Vec<String>, LspError> {
        let mut out = Vec::new();
        collect_names(v, &mut out)?;
        Ok(out)
    }

    /// A file URI of this folder for a `nitro:/` name, built one path
    /// segment at a time.
    fn file_uri(&self, name: &str) -> Result<String, LspError> {
        let path = Self::path_of(name)?;
        let mut url = self.root.clone();
        {
            let mut segments = url.path_segments_mut().map_err(|()| LspError::Outside(name.to_owned()))?;
            segments.pop_if_empty();
            for part in path.as_str().split('/') {
                segments.push(part);
            }
        }
        Ok(url.to_string())
    }

    /// A request from a user, for the server: `nitro:/` names become file
    /// URIs; any other URI scheme naming a file (`file:` in any case) is refused.
    pub fn to_server(&self, v: &mut Value) -> Result<(), LspError> {
        match v {
            Value::String(s) if names_a_file(s) => Err(LspError::Outside(s.clone())),
            Value::String(s) if s.starts_with(SCHEME) => {
                *s = self.file_uri(s)?;
                Ok(())
            }
            Value::Array(items) => items.iter_mut().try_for_each(|i| self.to_server(i)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut value) in entries {
                    self.to_server(&mut value)?;
                    let key = if names_a_file(&key) {
                        return Err(LspError::Outside(key));
                    } else if key.starts_with(SCHEME) {
                        self.file_uri(&key)?
                    } else {
                        key
                    };
                    map.insert(key, value);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A result or notice from the server, for a user: file URIs in the
    /// folder become `nitro:/` names; places outside it (a library's source,
    /// say) are left out, and absolute paths in text are cut to the
    /// workspace path (or `~/`), so that no absolute path leaves this peer.
    pub fn to_user(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.user_text(s),
            Value::Array(items) => {
                items.retain(|i| !self.is_outside(i));
                items.iter_mut().for_each(|i| self.to_user(i));
            }
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut value) in entries {
                    let key = match self.name_of_file(&key) {
                        Some(Some(name)) => name,
                        Some(None) => continue,
                        None => key,
                    };
                    if self.is_outside(&value) {
                        value = Value::Null;
                    }
                    self.to_user(&mut value);
                    map.insert(key, value);
                }
            }
            _ => {}
        }
    }

    /// Text from the server as a user may see it: a URI that is the whole
    /// string is renamed (or emptied when outside the folder); elsewhere,
    /// file URIs and absolute paths lose what names this machine.
    pub fn user_text(&self, s: &str) -> String {
        match self.name_of_file(s) {
            Some(Some(name)) => return name,
            Some(None) => return String::new(),
            None => {}
        }
        let mut out = s.replace(self.root.as_str(), SCHEME);
        out = out.replace("file://localhost/", "file:///");
        for (prefix, to) in &self.scrub {
            out = out.replace(&format!("file://{prefix}"), SCHEME).replace(prefix, to);
        }
        out
    }

    /// For a string that is a `file:` URL: `Some(Some(name))` inside the
    /// folder, `Some(None)` outside; `None` for any other string.
    fn name_of_file(&self, s: &str) -> Option<Option<String>> {
        if !names_a_file(s) || s.contains(char::is_whitespace) {
            return None;
        }
        let inside = Url::parse(s.trim()).ok().and_then(|u| u.to_file_path().ok()).and_then(|p| {
            let rel = self.dirs.iter().find_map(|d| p.strip_prefix(d).ok())?;
            RelPath::new(rel.to_str()?).ok()
        });
        Some(inside.map(|p| Self::name(&p)))
    }

    /// A value that names a place outside the folder: a location, link or
    /// file operation (any field holding such a `file:` URL).
    fn is_outside(&self, v: &Value) -> bool {
        v.as_object().is_some_and(|m| m.values().any(|f| f.as_str().is_some_and(|s| self.name_of_file(s) == Some(None))))
    }
}

/// Whether a string is a `file:` URI (any case, leading blanks ignored).
fn names_a_file(s: &str) -> bool {
    s.trim_start().get(..5).is_some_and(|p| p.eq_ignore_ascii_case("file:"))
}

fn collect_names(v: &Value, out: &mut Vec<String>) -> Result<(), LspError> {
    match v {
        Value::String(s) if names_a_file(s) => return Err(LspError::Outside(s.clone())),
        Value::String(s) if s.starts_with(SCHEME) => out.push(s.clone()),
        Value::Array(items) => items.iter().try_for_each(|i| collect_names(i, out))?,
        Value::Object(map) => {
            for (key, value) in map {
                if names_a_file(key) {
                    return Err(LspError::Outside(key.clone()));
                }
                if key.starts_with(SCHEME) {
                    out.push(key.clone());
                }
                collect_names(value, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_travel_and_nothing_outside_the_folder_is_named() {
        let uris = Uris::new(Path::new("/home/ada/my project")).expect("uris");
        let name = Uris::name(&RelPath::new("src/a b.ts").expect("path"));
        assert_eq!(name, "nitro:/src/a%20b.ts");
        let mut req = json!({"textDocument": {"uri": name}, "position": {"line": 1, "character": 2}});
        uris.to_server(&mut req).expect("inside");
        assert_eq!(req["textDocument"]["uri"], "file:///home/ada/my%20project/src/a%20b.ts");

        // A user cannot name a file of this machine, nor climb out, however encoded.
        for bad in [
            json!({"uri": "file:///etc/passwd"}),
            json!({"uri": " FILE:///etc/passwd"}),
            json!({"uri": "nitro:/../secret"}),
            json!({"uri": "nitro:/..%5C..%5Cetc%5Cpasswd"}),
            json!({"uri": "nitro:/%252e%252e/%252e%252e/etc/passwd"}),
            json!({"uri": "nitro:/a%00b"}),
            json!({"changes": {"file:///etc/x": []}}),
        ] {
            let mut v = bad.clone();
            assert!(matches!(uris.to_server(&mut v), Err(LspError::Outside(_))), "{bad}");
        }

        let mut result = json!([
            {"uri": "file:///home/ada/my%20project/src/b.ts", "range": {}},
            {"uri": "file:///usr/lib/node_modules/typescript/lib/lib.d.ts", "range": {}},
            {"uri": "file://localhost/usr/lib/x.d.ts", "range": {}},
        ]);
        uris.to_user(&mut result);
        assert_eq!(result, json!([{"uri": "nitro:/src/b.ts", "range": {}}]));
        let mut edit = json!({"changes": {"file:///home/ada/my%20project/src/b.ts": [], "file:///tmp/x.ts": []}});
        uris.to_user(&mut edit);
        assert_eq!(edit, json!({"changes": {"nitro:/src/b.ts": []}}));
        let mut rename =
            json!({"documentChanges": [{"kind": "rename", "oldUri": "file:///home/ada/my%20project/a.ts", "newUri": "file:///tmp/a.ts"}]});
        uris.to_user(&mut rename);
        assert_eq!(rename, json!({"documentChanges": []}));
        let mut hover = json!({"contents": "defined in /home/ada/my project/src/b.ts, see [x](file:///home/ada/my%20project/c.ts)"});
        uris.to_user(&mut hover);
        assert_eq!(hover, json!({"contents": "defined in src/b.ts, see [x](nitro:/c.ts)"}));
        assert_eq!(Uris::path_of("nitro:/src/a%20b.ts").expect("path").as_str(), "src/a b.ts");
        assert_eq!(Uris::names_in(&json!({"a": ["nitro:/x.ts"], "nitro:/y.ts": 1})).expect("names"), ["nitro:/x.ts", "nitro:/y.ts"]);
        assert!(Uris::names_in(&json!({"a": [" file:///etc"]})).is_err());
    }
}
