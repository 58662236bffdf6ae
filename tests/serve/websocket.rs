//! WebSockets through iisn (130, 131): the Upgrade reaches node, the 101 comes back, then
//! bytes flow both ways until either side closes. The client is a minimal RFC 6455 codec over
//! the harness's raw connection; the server is node's `upgrade` event with its own codec.

use std::net::SocketAddr;

use crate::harness::{Conn, RawResponse, Site};

/// RFC 6455 §1.3's sample key and the accept value it must produce.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;

async fn handshake(addr: SocketAddr, target: &str) -> (Conn, RawResponse) {
    let mut c = Conn::connect(addr).await;
    c.send(
        format!(
            "GET {target} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    let head = c.read_head().await;
    assert_eq!(head.status, 101, "{}", head.head);
    assert!(
        head.header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket")),
        "{}",
        head.head
    );
    assert!(
        head.header("connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade")),
        "{}",
        head.head
    );
    assert_eq!(
        head.header("sec-websocket-accept"),
        Some(ACCEPT),
        "{}",
        head.head
    );
    (c, head)
}

/// A client frame: FIN, masked (clients must mask).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// One server frame: (opcode, payload). Server frames are unmasked and, here, unfragmented.
async fn read_frame(c: &mut Conn) -> (u8, Vec<u8>) {
    let h = c.read_exact(2).await;
    assert_eq!(h[0] & 0x80, 0x80, "unfragmented frames only");
    assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
    let len = match h[1] & 0x7f {
        126 => u16::from_be_bytes(c.read_exact(2).await.try_into().expect("2 bytes")) as usize,
        127 => u64::from_be_bytes(c.read_exact(8).await.try_into().expect("8 bytes")) as usize,
        n => n as usize,
    };
    (h[0] & 0x0f, c.read_exact(len).await)
}

/// C48 / 130_websocket_onetwothree: the server pushes three messages and closes; the app
/// lives in a sub-folder with its own web.config and `<webSocket enabled="false"/>`.
#[test]
fn websocket_server_push() {
    let Some(site) = Site::new("websocket") else {
        return;
    };
    let server = site.serve();
    let plain = server.get("/app/server.js");
    assert_eq!(
        (plain.status, plain.text()),
        (400, "WebSocket only".to_string())
    );

    let addr = server.addr();
    server.block_on(async move {
        let (mut c, _) = handshake(addr, "/app/server.js?push").await;
        let mut got = Vec::new();
        loop {
            let (op, payload) = read_frame(&mut c).await;
            if op == CLOSE {
                assert_eq!(payload[..2], 1000u16.to_be_bytes(), "normal closure");
                break;
            }
            assert_eq!(op, TEXT);
            got.push(String::from_utf8(payload).expect("utf-8"));
        }
        assert_eq!(got, ["one", "two", "three"]);
        c.send(&client_frame(CLOSE, &1000u16.to_be_bytes())).await;
        // Node ends the socket; iisn ends the client's connection in turn.
        let rest = c.read_to_end().await;
        assert!(rest.is_empty(), "nothing after the close: {rest:?}");
    });
}

/// C49 / 131_websocket_echo: client messages are echoed in order (a large binary one too);
/// a client-initiated close completes; plain requests still work meanwhile.
#[test]
fn websocket_echo() {
    let Some(site) = Site::new("websocket") else {
        return;
    };
    let server = site.serve();
    let addr = server.addr();
    let (mut c, _) = server.block_on(handshake(addr, "/app/server.js"));
    server.block_on(async {
        for word in ["The", "cat", "in", "the", "hat"] {
            c.send(&client_frame(TEXT, word.as_bytes())).await;
            let (op, payload) = read_frame(&mut c).await;
            assert_eq!((op, payload.as_slice()), (TEXT, word.as_bytes()));
        }
        let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        c.send(&client_frame(BINARY, &big)).await;
        let (op, payload) = read_frame(&mut c).await;
        assert_eq!(op, BINARY);
        assert!(payload == big, "a 70 000-byte message comes back intact");
    });

    // The open tunnel does not block other requests.
    assert_eq!(server.get("/app/server.js").status, 400);

    server.block_on(async {
        c.send(&client_frame(CLOSE, &1000u16.to_be_bytes())).await;
        let (op, payload) = read_frame(&mut c).await;
        assert_eq!(op, CLOSE);
        assert_eq!(payload, 1000u16.to_be_bytes());
        let rest = c.read_to_end().await;
        assert!(rest.is_empty(), "{rest:?}");
    });
}

/// An open tunnel counts as a request in flight (maxConcurrentRequestsPerProcess="1"): while
/// it is open the worker is full (503); once it closes, requests get through again.
#[test]
fn open_tunnel_counts_as_in_flight() {
    let Some(site) = Site::new("websocket") else {
        return;
    };
    site.web_config("app/server.js", r#"maxConcurrentRequestsPerProcess="1""#);
    let server = site.serve();
    assert_eq!(
        server.get("/app/server.js").status,
        400,
        "node answers plain requests"
    );
    let addr = server.addr();
    let (mut c, _) = server.block_on(handshake(addr, "/app/server.js"));
    assert_eq!(
        server.get("/app/server.js").status,
        503,
        "the tunnel holds the only slot"
    );
    server.block_on(async {
        c.send(&client_frame(CLOSE, &1000u16.to_be_bytes())).await;
        let (op, _) = read_frame(&mut c).await;
        assert_eq!(op, CLOSE);
        assert!(c.read_to_end().await.is_empty());
    });
    // node closed its end; the client closes its own, as a browser does.
    drop(c);
    let deadline = std::time::Instant::now() + crate::harness::TIMEOUT;
    while server.get("/app/server.js").status != 400 {
        assert!(
            std::time::Instant::now() < deadline,
            "the slot was never released"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
