//! Uploading through a ticket the way the mini-program does: `PUT` with headers for the local
//! store, multipart `POST` with the signed form fields for S3 (`wx.uploadFile`'s request shape).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Send `bytes` through `ticket` (an `UploadTicket` as JSON); returns the HTTP status.
pub async fn upload(ticket: &Value, content_type: &str, bytes: Vec<u8>) -> Result<u16, String> {
    let url = ticket["url"].as_str().ok_or("ticket has no url")?;
    let method = ticket["method"].as_str().unwrap_or("PUT");
    let req = if method == "POST" {
        let boundary = format!("----upload{}", shared::random::id());
        let mut body = Vec::with_capacity(bytes.len() + 2048);
        for (k, v) in ticket["fields"].as_object().into_iter().flatten() {
            let v = v.as_str().unwrap_or_default();
            body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes());
        }
        // S3 requires the file to be the last field.
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload\"\r\nContent-Type: {content_type}\r\n\r\n")
                .as_bytes(),
        );
        body.extend(&bytes);
        body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        hyper::Request::post(url)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(Full::new(Bytes::from(body)))
    } else {
        let mut b = hyper::Request::put(url).header("content-type", content_type);
        for (k, v) in ticket["headers"].as_object().into_iter().flatten() {
            if !k.eq_ignore_ascii_case("content-type") {
                b = b.header(k.as_str(), v.as_str().unwrap_or_default());
            }
        }
        b.body(Full::new(Bytes::from(bytes)))
    }
    .map_err(|e| e.to_string())?;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    Ok(status)
}
