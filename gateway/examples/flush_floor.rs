//! The CalDAV write benchmark's floor (gateway/benches/caldav_write_vs_radicale.py): a server
//! that does nothing but what every durable write must, so the benchmark can show what ratio
//! to Radicale this machine allows on the day it runs.
//!
//! `flush_floor DIR` prints its port, then answers HTTP/1.1 on 127.0.0.1 with one thread: for
//! each request it reads the head and the body, appends a record the size of a DisCal
//! cancellation (its body, or 600 bytes) to a log in `DIR` with `pwrite` + `fdatasync` (over
//! blocks written ahead, as the node's store does), and answers `201` to a PUT with
//! `If-None-Match`, `204` to any other PUT or DELETE, `200` otherwise, with an ETag. No
//! parsing of the calendar data, no credentials, no index, no signing: whatever a real server
//! spends beyond this floor is its own.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::FileExt;

/// Written ahead in zeros, so each record lands on blocks the file system already holds.
const LOG_BYTES: u64 = 64 << 20;
/// The largest body it reads: the node's own limit for a calendar object is far below.
const MAX_BODY: usize = 4 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: flush_floor DIR")?;
    let log = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(std::path::Path::new(&dir).join("floor.log"))?;
    let zeros = vec![0u8; 1 << 20];
    for at in (0..LOG_BYTES).step_by(zeros.len()) {
        log.write_all_at(&zeros, at)?;
    }
    log.sync_all()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("{}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    let mut at = 0u64;
    let mut n = 0u64;
    for stream in listener.incoming() {
        let stream = stream?;
        stream.set_nodelay(true)?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut out = stream;
        // One connection at a time, until the client closes it.
        'conn: loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                break;
            }
            let method = line.split(' ').next().unwrap_or("").to_owned();
            let (mut length, mut create) = (0usize, false);
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    break 'conn;
                }
                let header = line.trim_end();
                if header.is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap_or((header, ""));
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse()?;
                } else if name.eq_ignore_ascii_case("if-none-match") {
                    create = true;
                }
            }
            if length > MAX_BODY {
                return Err(format!("a body of {length} bytes; the floor takes {MAX_BODY}").into());
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body)?;
            let status = match method.as_str() {
                "PUT" if create => "201 Created",
                "PUT" | "DELETE" => "204 No Content",
                _ => "200 OK",
            };
            if status != "200 OK" {
                if body.is_empty() {
                    body = vec![b'x'; 600];
                }
                if at + body.len() as u64 > LOG_BYTES {
                    at = 0;
                }
                log.write_all_at(&body, at)?;
                log.sync_data()?;
                at += body.len() as u64;
            }
            n += 1;
            write!(
                out,
                "HTTP/1.1 {status}\r\nETag: \"{n}\"\r\nContent-Length: 0\r\n\r\n"
            )?;
        }
    }
    Ok(())
}
