//! A job's output, bounded: the tail is kept, since the end of a build log is what explains
//! a failure.

pub struct LogTail {
    bytes: Vec<u8>,
    limit: usize,
    dropped: bool,
}

impl LogTail {
    pub fn new(limit: usize) -> Self {
        LogTail {
            bytes: Vec::new(),
            limit,
            dropped: false,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > self.limit {
            let excess = self.bytes.len() - self.limit;
            self.bytes.drain(..excess);
            self.dropped = true;
        }
    }

    pub fn text(&self) -> String {
        let body = String::from_utf8_lossy(&self.bytes);
        if self.dropped {
            format!(
                "[… earlier output dropped; the last {} bytes follow …]\n{body}",
                self.limit
            )
        } else {
            body.into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_under_the_limit() {
        let mut log = LogTail::new(100);
        log.push(b"hello ");
        log.push(b"world\n");
        assert_eq!(log.text(), "hello world\n");
    }

    #[test]
    fn keeps_the_tail_and_says_so() {
        let mut log = LogTail::new(5);
        log.push(b"abcdefgh");
        log.push(b"ij");
        assert!(log.text().ends_with("\nfghij"));
        assert!(log.text().starts_with("[… earlier output dropped"));
    }
}
