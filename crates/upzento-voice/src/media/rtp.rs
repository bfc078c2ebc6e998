//! RTP packets (RFC 3550): the fixed header, CSRCs and a header extension skipped,
//! padding removed. Malformed packets are refused, never trusted.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    pub payload_type: u8,
    pub marker: bool,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("shorter than an RTP header")]
    Short,
    #[error("not RTP version 2")]
    Version,
    #[error("header fields overrun the packet")]
    Overrun,
}

pub fn parse(buf: &[u8]) -> Result<Packet<'_>, RtpError> {
    if buf.len() < 12 {
        return Err(RtpError::Short);
    }
    if buf[0] >> 6 != 2 {
        return Err(RtpError::Version);
    }
    let padding = buf[0] & 0x20 != 0;
    let extension = buf[0] & 0x10 != 0;
    let csrcs = usize::from(buf[0] & 0x0f);
    let mut start = 12 + 4 * csrcs;
    if extension {
        let words = buf.get(start + 2..start + 4).ok_or(RtpError::Overrun)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    let mut end = buf.len();
    if padding {
        let pad = usize::from(*buf.last().ok_or(RtpError::Overrun)?);
        end = end.checked_sub(pad).ok_or(RtpError::Overrun)?;
    }
    if start > end {
        return Err(RtpError::Overrun);
    }
    Ok(Packet {
        payload_type: buf[1] & 0x7f,
        marker: buf[1] & 0x80 != 0,
        sequence: u16::from_be_bytes([buf[2], buf[3]]),
        timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        payload: &buf[start..end],
    })
}

/// Writes a packet without CSRCs or extensions into `out` (cleared first).
pub fn write(packet: &Packet<'_>, out: &mut Vec<u8>) {
    out.clear();
    out.push(0x80);
    out.push(packet.payload_type & 0x7f | if packet.marker { 0x80 } else { 0 });
    out.extend_from_slice(&packet.sequence.to_be_bytes());
    out.extend_from_slice(&packet.timestamp.to_be_bytes());
    out.extend_from_slice(&packet.ssrc.to_be_bytes());
    out.extend_from_slice(packet.payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back_and_refuses_garbage() {
        let payload = [1u8, 2, 3, 4];
        let packet = Packet {
            payload_type: 0,
            marker: true,
            sequence: 65_535,
            timestamp: 160,
            ssrc: 0xdead_beef,
            payload: &payload,
        };
        let mut buf = Vec::new();
        write(&packet, &mut buf);
        assert_eq!(parse(&buf).unwrap(), packet);
        assert_eq!(parse(&buf[..11]), Err(RtpError::Short));
        let mut v1 = buf.clone();
        v1[0] = 0x40;
        assert_eq!(parse(&v1), Err(RtpError::Version));
        // 15 CSRCs announced, none there.
        let mut csrc = buf.clone();
        csrc[0] = 0x8f;
        assert_eq!(parse(&csrc), Err(RtpError::Overrun));
        // Padding longer than the packet.
        let mut pad = buf.clone();
        pad[0] |= 0x20;
        *pad.last_mut().unwrap() = 200;
        assert_eq!(parse(&pad), Err(RtpError::Overrun));
        // An extension header is skipped.
        let mut ext = vec![
            0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 9, 9, 9, 9,
        ];
        ext.extend_from_slice(&payload);
        assert_eq!(parse(&ext).unwrap().payload, &payload);
    }
}
