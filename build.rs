//! Checks `openapi.yaml` parses and writes it as JSON into the static assets
//! (`dashboard/openapi.json`, not in git), which `GET /openapi.json` serves through the
//! `ASSETS` binding. Embedding it cost the wasm 53 KB (about 10 KiB gzipped); as an asset it
//! costs nothing.

use std::{env, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=openapi.yaml");
    let yaml = fs::read_to_string("openapi.yaml").expect("openapi.yaml is readable");
    let doc: serde_json::Value =
        serde_norway::from_str(&yaml).expect("openapi.yaml is valid YAML for a JSON document");
    assert!(
        doc.get("openapi").and_then(|v| v.as_str()).is_some(),
        "openapi.yaml has an `openapi` version field"
    );
    let json = serde_json::to_string(&doc).expect("JSON serialises");
    let manifest = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = Path::new(&manifest).join("dashboard").join("openapi.json");
    // Unchanged content is not rewritten, so the asset's mtime (and wrangler's watcher) only
    // move when the document does.
    if fs::read_to_string(&out).ok().as_deref() != Some(json.as_str()) {
        fs::write(&out, json).expect("dashboard/ is writable");
    }
}
