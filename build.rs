//! Checks `openapi.yaml` parses and embeds it as JSON for `GET /openapi.json`.

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
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("openapi.json");
    fs::write(out, serde_json::to_string(&doc).expect("JSON serialises"))
        .expect("OUT_DIR is writable");
}
