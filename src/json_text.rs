//! JSON text that SQLite built, kept as a JavaScript string from D1 to the response.
//!
//! The reads whose answers SQLite builds (`store::json_body`) hand the text on unchanged, so it
//! never needs to enter the wasm: copying it in (wasm-bindgen re-encodes a JavaScript string
//! to UTF-8 character by character), hashing it there for the `ETag` and copying it back out
//! as the body cost more than the D1 query. A 100-task list is about 27 KB; under
//! `wrangler dev` its read went from about 340 to about 425 requests/s once the string went
//! straight from D1 into `new Response` (`tests/bench/bench_api.py` measures it). The `ETag` is
//! a SHA-256 the runtime computes (WebCrypto) over the same string.

use crate::http::{etag_matches, CACHE_NEVER, CACHE_REVALIDATE};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::js_sys::{JsString, Promise, Uint8Array};
use worker::web_sys::{Headers, ResponseInit};
use worker::{wasm_bindgen, wasm_bindgen_futures, Response};

#[wasm_bindgen]
extern "C" {
    /// `new Response(text, init)`: web-sys only offers a body from a Rust `&str`, a copy.
    #[wasm_bindgen(js_name = Response)]
    type TextResponse;
    #[wasm_bindgen(constructor, js_class = "Response", catch)]
    fn new(body: &JsString, init: &ResponseInit) -> Result<TextResponse, JsValue>;

    type TextEncoder;
    #[wasm_bindgen(constructor)]
    fn new() -> TextEncoder;
    #[wasm_bindgen(method)]
    fn encode(this: &TextEncoder, text: &JsString) -> Uint8Array;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = digest, catch)]
    fn digest(algorithm: &str, data: &Uint8Array) -> Result<Promise, JsValue>;
}

/// A JSON text as D1 returned it.
pub struct JsonText(JsString);

impl JsonText {
    /// The text, if `value` is a string (D1's value of a text column).
    pub fn from_js(value: JsValue) -> Option<JsonText> {
        value.dyn_into::<JsString>().ok().map(JsonText)
    }

    /// The text as the body of a `status` answer that is never cached.
    pub fn response(&self, status: u16) -> worker::Result<Response> {
        self.respond(status, &[("cache-control", CACHE_NEVER)])
    }

    /// The text with a strong `ETag`, or `304 Not Modified` without a body when
    /// `if_none_match` names that tag already. Clients may keep it but must revalidate.
    pub async fn response_with_etag(
        &self,
        if_none_match: Option<&str>,
    ) -> worker::Result<Response> {
        let etag = self.etag().await?;
        if if_none_match.is_some_and(|header| etag_matches(header, &etag)) {
            let mut resp = Response::empty()?.with_status(304);
            resp.headers_mut().set("etag", &etag)?;
            resp.headers_mut().set("cache-control", CACHE_REVALIDATE)?;
            return Ok(resp);
        }
        self.respond(200, &[("etag", &etag), ("cache-control", CACHE_REVALIDATE)])
    }

    fn respond(&self, status: u16, extra: &[(&str, &str)]) -> worker::Result<Response> {
        let headers = Headers::new()?;
        headers.set("content-type", "application/json")?;
        for (name, value) in extra {
            headers.set(name, value)?;
        }
        let init = ResponseInit::new();
        init.set_status(status);
        init.set_headers(&headers);
        let response = TextResponse::new(&self.0, &init)?;
        Ok(Response::from(
            response.unchecked_into::<worker::web_sys::Response>(),
        ))
    }

    /// `"<first 128 bits of the SHA-256 of the UTF-8 text, in hex>"`.
    async fn etag(&self) -> worker::Result<String> {
        let bytes = TextEncoder::new().encode(&self.0);
        let digest = JsFuture::from(digest("SHA-256", &bytes)?).await?;
        let digest = Uint8Array::new(&digest).to_vec();
        Ok(quoted_hex(&digest[..16]))
    }
}

fn quoted_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut tag = String::with_capacity(bytes.len() * 2 + 2);
    tag.push('"');
    for byte in bytes {
        tag.push(DIGITS[usize::from(byte >> 4)] as char);
        tag.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    tag.push('"');
    tag
}

#[cfg(test)]
mod tests {
    use super::quoted_hex;

    #[test]
    fn tags_are_quoted_lowercase_hex() {
        assert_eq!(quoted_hex(&[0x00, 0x9f, 0xa0, 0xff]), "\"009fa0ff\"");
        assert_eq!(quoted_hex(&[]), "\"\"");
    }
}
