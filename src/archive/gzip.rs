//! gzip through the runtime's own `CompressionStream` / `DecompressionStream`: the deflate code
//! lives in workerd, so compressing the archive costs the wasm a few bindings, not a crate.
//! (web-sys has these classes only behind `--cfg web_sys_unstable_apis`; the two constructors
//! are all we need, declared here as the `TransformStream`s they are.)

use worker::js_sys::{ArrayBuffer, Uint8Array};
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{Response as JsResponse, TransformStream};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(extends = TransformStream, js_name = CompressionStream)]
    type Compression;
    #[wasm_bindgen(constructor, js_class = "CompressionStream", catch)]
    fn new(format: &str) -> Result<Compression, JsValue>;

    #[wasm_bindgen(extends = TransformStream, js_name = DecompressionStream)]
    type Decompression;
    #[wasm_bindgen(constructor, js_class = "DecompressionStream", catch)]
    fn new(format: &str) -> Result<Decompression, JsValue>;
}

pub async fn compress(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let stream = Compression::new("gzip").map_err(js)?;
    pipe(bytes, stream.unchecked_ref()).await
}

pub async fn decompress(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let stream = Decompression::new("gzip").map_err(js)?;
    pipe(bytes, stream.unchecked_ref()).await
}

/// Feeds `bytes` into the transform while reading what comes out (both at once: a transform
/// holds only a small buffer, so writing everything first would stall).
async fn pipe(bytes: &[u8], transform: &TransformStream) -> Result<Vec<u8>, String> {
    let input = Uint8Array::from(bytes);
    let source = JsResponse::new_with_opt_buffer_source(Some(&input)).map_err(js)?;
    let body = source.body().ok_or("a response without a body")?;
    let written = JsFuture::from(body.pipe_to(&transform.writable()));
    let sink = JsResponse::new_with_opt_readable_stream(Some(&transform.readable())).map_err(js)?;
    let read = JsFuture::from(sink.array_buffer().map_err(js)?);
    let (written, read) = futures::join!(written, read);
    written.map_err(js)?;
    let buffer: ArrayBuffer = read.map_err(js)?.dyn_into().map_err(js)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

fn js(err: impl Into<JsValue>) -> String {
    let err = err.into();
    err.as_string()
        .or_else(|| {
            err.dyn_ref::<worker::js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{err:?}"))
}
