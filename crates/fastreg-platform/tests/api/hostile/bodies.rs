//! Oversized bodies on one connection: answered, and the connection stays usable whether or
//! not the route reads bodies.

use super::*;

// Oversized bodies on one connection
// ---------------------------------------------------------------------------------------------

/// Reads one HTTP/1.1 response (headers and a Content-Length body) off a raw connection.
async fn read_response(stream: &mut tokio::net::TcpStream) -> std::io::Result<(u16, String)> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head[9..12].parse().unwrap_or(0);
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok((
        status,
        String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned(),
    ))
}

#[tokio::test]
async fn an_oversized_body_is_answered_and_the_connection_stays_usable_whether_or_not_the_route_reads_bodies(
) {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app().await;
    let oat = app.oa_token(OA).await;
    let limit = app.state.settings.max_body_bytes;
    let addr = app.base.trim_start_matches("http://").to_string();
    for (method, target, auth, status, errcode) in [
        // Reads its body: refused with 47001.
        (
            "POST",
            format!("/cgi-bin/account/fastregister?access_token={oat}"),
            "",
            200,
            Some(47001),
        ),
        // Takes no body.
        (
            "GET",
            "/cgi-bin/account/getaccountbasicinfo".into(),
            "",
            200,
            Some(41001),
        ),
        ("GET", "/cgi-bin/cancelled".into(), "", 200, None),
        (
            "GET",
            "/sandbox/v1/clock".into(),
            "authorization: Bearer test-admin-token\r\n",
            200,
            None,
        ),
        // Refused before any handler.
        (
            "POST",
            "/sandbox/v1/clock/advance".into(),
            "",
            401,
            Some(41001),
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let body = vec![b'a'; 2 * limit + 7];
        let head = format!(
            "{method} {target} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream
            .write_all(&body)
            .await
            .unwrap_or_else(|e| panic!("{method} {target}: the server hung up mid-body: {e}"));
        let (got, text) = read_response(&mut stream)
            .await
            .unwrap_or_else(|e| panic!("{method} {target}: no answer: {e}"));
        assert_eq!(got, status, "{method} {target}: {text}");
        if let Some(code) = errcode {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["errcode"], code, "{method} {target}: {v}");
        }
        // The same connection serves the next request.
        let next = format!(
            "GET /sandbox/v1/clock HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {ADMIN}\r\n\r\n"
        );
        stream.write_all(next.as_bytes()).await.unwrap();
        let (got, text) = read_response(&mut stream)
            .await
            .unwrap_or_else(|e| panic!("after {method} {target}: the connection was closed: {e}"));
        assert_eq!(got, 200, "{text}");
    }
}
