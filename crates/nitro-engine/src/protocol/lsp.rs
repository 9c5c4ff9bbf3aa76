//! Messages of shared language servers (PROTOCOL.md §5.9): a peer that runs
//! a server offers it; a peer without one opens documents on it, asks, and
//! gets answers and diagnostics. Every body is UTF-8 JSON; documents are
//! workspace paths, or `nitro:/<path>` inside LSP params and results.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::WireError;
use super::limits::{MAX_LSP_LANGUAGES, MAX_LSP_MESSAGE, MAX_NAME};
use crate::path::RelPath;

pub const OFFER: u8 = 0x12;
pub const OPEN: u8 = 0x13;
pub const REQUEST: u8 = 0x14;
pub const RESPONSE: u8 = 0x15;
pub const CANCEL: u8 = 0x16;
pub const DIAGNOSTICS: u8 = 0x17;

#[derive(Debug, Clone, PartialEq)]
pub enum LspMsg {
    /// The languages whose server the sender runs for the receiver (none: it serves it nothing).
    Offer {
        languages: Vec<String>,
    },
    /// The receiver's server should follow this document (its own copy of it) and send its diagnostics.
    Open {
        path: RelPath,
    },
    Request {
        id: u64,
        path: RelPath,
        method: String,
        params: Value,
    },
    /// The answer to request `id`: its result, or why there is none.
    Response {
        id: u64,
        result: Result<Value, String>,
    },
    /// The asker no longer wants the answer to `id`.
    Cancel {
        id: u64,
    },
    Diagnostics {
        path: RelPath,
        diagnostics: Value,
    },
}

#[derive(Serialize, Deserialize)]
struct OfferJson {
    languages: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct PathJson {
    path: String,
}

#[derive(Serialize, Deserialize)]
struct RequestJson {
    id: u64,
    path: String,
    method: String,
    #[serde(default)]
    params: Value,
}

#[derive(Serialize, Deserialize)]
struct ResponseJson {
    id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct CancelJson {
    id: u64,
}

#[derive(Serialize, Deserialize)]
struct DiagnosticsJson {
    path: String,
    diagnostics: Value,
}

impl LspMsg {
    /// Type byte and body.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (kind, json) = match self {
            LspMsg::Offer { languages } => (OFFER, serde_json::to_vec(&OfferJson { languages: languages.clone() })),
            LspMsg::Open { path } => (OPEN, serde_json::to_vec(&PathJson { path: path.to_string() })),
            LspMsg::Request { id, path, method, params } => {
                (REQUEST, serde_json::to_vec(&RequestJson { id: *id, path: path.to_string(), method: method.clone(), params: params.clone() }))
            }
            LspMsg::Response { id, result } => {
                let (result, error) = match result {
                    Ok(v) => (Some(v.clone()), None),
                    Err(e) => (None, Some(e.clone())),
                };
                (RESPONSE, serde_json::to_vec(&ResponseJson { id: *id, result, error }))
            }
            LspMsg::Cancel { id } => (CANCEL, serde_json::to_vec(&CancelJson { id: *id })),
            LspMsg::Diagnostics { path, diagnostics } => {
                (DIAGNOSTICS, serde_json::to_vec(&DiagnosticsJson { path: path.to_string(), diagnostics: diagnostics.clone() }))
            }
        };
        out.push(kind);
        // Serializing these structs of strings, numbers and JSON values cannot fail.
        out.extend(json.unwrap_or_default());
    }

    pub fn decode(kind: u8, body: &[u8]) -> Result<Self, WireError> {
        if body.len() > MAX_LSP_MESSAGE {
            return Err(WireError::TooLarge(MAX_LSP_MESSAGE));
        }
        let bad = |_| WireError::Malformed("language server message");
        let path = |p: String| RelPath::new(&p).map_err(|_| WireError::Malformed("language server message names no workspace path"));
        Ok(match kind {
            OFFER => {
                let o: OfferJson = serde_json::from_slice(body).map_err(bad)?;
                if o.languages.len() > MAX_LSP_LANGUAGES || o.languages.iter().any(|l| l.is_empty() || l.len() > MAX_NAME) {
                    return Err(WireError::Malformed("language offer"));
                }
                LspMsg::Offer { languages: o.languages }
            }
            OPEN => LspMsg::Open { path: path(serde_json::from_slice::<PathJson>(body).map_err(bad)?.path)? },
            REQUEST => {
                let r: RequestJson = serde_json::from_slice(body).map_err(bad)?;
                if r.method.len() > MAX_NAME * 2 {
                    return Err(WireError::Malformed("language server method"));
                }
                LspMsg::Request { id: r.id, path: path(r.path)?, method: r.method, params: r.params }
            }
            RESPONSE => {
                let r: ResponseJson = serde_json::from_slice(body).map_err(bad)?;
                let result = match (r.result, r.error) {
                    (_, Some(e)) => Err(super::printable::printable(&e, 1024)),
                    (Some(v), None) => Ok(v),
                    (None, None) => Ok(Value::Null),
                };
                LspMsg::Response { id: r.id, result }
            }
            CANCEL => LspMsg::Cancel { id: serde_json::from_slice::<CancelJson>(body).map_err(bad)?.id },
            DIAGNOSTICS => {
                let d: DiagnosticsJson = serde_json::from_slice(body).map_err(bad)?;
                if !d.diagnostics.is_array() {
                    return Err(WireError::Malformed("diagnostics"));
                }
                LspMsg::Diagnostics { path: path(d.path)?, diagnostics: d.diagnostics }
            }
            other => return Err(WireError::UnknownType(other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(msg: LspMsg) {
        let mut out = Vec::new();
        msg.encode(&mut out);
        assert_eq!(LspMsg::decode(out[0], &out[1..]), Ok(msg));
    }

    #[test]
    fn messages_round_trip_and_paths_outside_the_workspace_are_refused() {
        let path = RelPath::new("src/a.ts").expect("path");
        round_trip(LspMsg::Offer { languages: vec!["typescript".into()] });
        round_trip(LspMsg::Open { path: path.clone() });
        round_trip(LspMsg::Request { id: 7, path: path.clone(), method: "textDocument/hover".into(), params: json!({"position": {"line": 1}}) });
        round_trip(LspMsg::Response { id: 7, result: Ok(json!({"contents": "x"})) });
        round_trip(LspMsg::Response { id: 8, result: Err("no server".into()) });
        round_trip(LspMsg::Cancel { id: 9 });
        round_trip(LspMsg::Diagnostics { path, diagnostics: json!([]) });
        for body in [r#"{"path": "../etc/passwd"}"#, r#"{"path": "/etc/passwd"}"#, r#"{"path": ""}"#] {
            assert!(LspMsg::decode(OPEN, body.as_bytes()).is_err(), "{body}");
        }
        let many = serde_json::to_vec(&json!({"languages": vec!["x"; MAX_LSP_LANGUAGES + 1]})).expect("json");
        assert!(LspMsg::decode(OFFER, &many).is_err());
        assert!(LspMsg::decode(DIAGNOSTICS, br#"{"path": "a.ts", "diagnostics": 3}"#).is_err());
    }
}
