//! Documents are named `nitro:/<path>` between the engine and its users
//! (the window, other peers), with the path relative to the workspace; a
//! language server knows them by `file://` URIs in this peer's folder.
//! Requests are rewritten one way and results the other, wherever a URI
//! appears in the JSON (values and map keys), so no absolute path of this
//! machine leaves it and no request names a file outside the workspace.

use std::path::Path;

use serde_json::Value;
use url::Url;

use super::LspError;
use crate::path::RelPath;

pub const SCHEME: &str = "nitro:/";

/// Converts between the two namings for one workspace folder.
#[derive(Debug, Clone)]
pub struct Uris {
    /// `file:///.../root/`, as servers write it.
    root: String,
    /// The folder's path, as servers may write it in text.
    root_path: String,
}

impl Uris {
    pub fn new(root: &Path) -> Result<Self, LspError> {
        let root_uri = Url::from_directory_path(root).map_err(|()| LspError::Io(format!("{} is not an absolute path", root.display())))?;
        Ok(Self { root: root_uri.to_string(), root_path: format!("{}/", root.display().to_string().trim_end_matches('/')) })
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    /// The `nitro:/` name of a workspace path.
    pub fn name(path: &RelPath) -> String {
        let mut url = Url::parse("nitro:/").unwrap_or_else(|_| unreachable!("a constant URL parses"));
        url.set_path(path.as_str());
        url.to_string()
    }

    /// The workspace path a `nitro:/` name stands for.
    pub fn path_of(name: &str) -> Result<RelPath, LspError> {
        let rest = name.strip_prefix(SCHEME).ok_or_else(|| LspError::Outside(name.to_owned()))?;
        let decoded = percent_decode(rest).ok_or_else(|| LspError::Outside(name.to_owned()))?;
        RelPath::new(&decoded).map_err(|_| LspError::Outside(name.to_owned()))
    }

    /// A file URI of this folder for a `nitro:/` name.
    fn file_uri(&self, name: &str) -> Result<String, LspError> {
        let path = Self::path_of(name)?;
        let mut url = Url::parse(&self.root).map_err(|_| LspError::Outside(name.to_owned()))?;
        let joined = format!("{}{}", url.path(), path.as_str());
        url.set_path(&joined);
        Ok(url.to_string())
    }

    /// A request from a user, for the server: `nitro:/` names become file
    /// URIs; a `file:` URI of its own (a path anywhere on this machine) is refused.
    pub fn to_server(&self, v: &mut Value) -> Result<(), LspError> {
        match v {
            Value::String(s) if s.starts_with("file:") => Err(LspError::Outside(s.clone())),
            Value::String(s) if s.starts_with(SCHEME) => {
                *s = self.file_uri(s)?;
                Ok(())
            }
            Value::Array(items) => items.iter_mut().try_for_each(|i| self.to_server(i)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut value) in entries {
                    self.to_server(&mut value)?;
                    let key = if key.starts_with(SCHEME) {
                        self.file_uri(&key)?
                    } else if key.starts_with("file:") {
                        return Err(LspError::Outside(key));
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

    /// A result or notice from the server, for a user: URIs in the folder
    /// become `nitro:/` names, and places outside it (a library's source,
    /// say) are left out, so that no absolute path leaves this peer.
    pub fn to_user(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                if let Some(rest) = s.strip_prefix(&self.root) {
                    *s = format!("{SCHEME}{rest}");
                } else if s.contains(&self.root_path) || s.contains(&self.root) {
                    *s = s.replace(&self.root, SCHEME).replace(&self.root_path, "");
                }
            }
            Value::Array(items) => {
                items.retain(|i| !self.is_outside(i));
                items.iter_mut().for_each(|i| self.to_user(i));
            }
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut value) in entries {
                    if key.starts_with("file:") && !key.starts_with(&self.root) {
                        continue;
                    }
                    if self.is_outside(&value) {
                        value = Value::Null;
                    }
                    self.to_user(&mut value);
                    let key = key.strip_prefix(&self.root).map_or(key.clone(), |rest| format!("{SCHEME}{rest}"));
                    map.insert(key, value);
                }
            }
            _ => {}
        }
    }

    /// A location (`uri` or `targetUri`) in a file outside the folder.
    fn is_outside(&self, v: &Value) -> bool {
        ["uri", "targetUri"].iter().any(|k| v.get(k).and_then(Value::as_str).is_some_and(|u| u.starts_with("file:") && !u.starts_with(&self.root)))
    }
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

        // A user cannot name a file of this machine, nor climb out.
        for bad in [json!({"uri": "file:///etc/passwd"}), json!({"uri": "nitro:/../secret"}), json!({"changes": {"file:///etc/x": []}})] {
            let mut v = bad.clone();
            assert!(matches!(uris.to_server(&mut v), Err(LspError::Outside(_))), "{bad}");
        }

        let mut result = json!([
            {"uri": "file:///home/ada/my%20project/src/b.ts", "range": {}},
            {"uri": "file:///usr/lib/node_modules/typescript/lib/lib.d.ts", "range": {}},
        ]);
        uris.to_user(&mut result);
        assert_eq!(result, json!([{"uri": "nitro:/src/b.ts", "range": {}}]));
        let mut edit = json!({"changes": {"file:///home/ada/my%20project/src/b.ts": [], "file:///tmp/x.ts": []}});
        uris.to_user(&mut edit);
        assert_eq!(edit, json!({"changes": {"nitro:/src/b.ts": []}}));
        let mut hover = json!({"contents": "defined in /home/ada/my project/src/b.ts"});
        uris.to_user(&mut hover);
        assert_eq!(hover, json!({"contents": "defined in src/b.ts"}));
        assert_eq!(Uris::path_of("nitro:/src/a%20b.ts").expect("path").as_str(), "src/a b.ts");
    }
}
