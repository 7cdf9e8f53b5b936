//! What the machine did meanwhile: CPU time of a process, and the machine's ticks with the
//! part a virtual machine's host took ("stolen").

/// CPU time (seconds, user + system) a process has used so far, from `/proc/PID/stat`
/// (`self` for this process); 0 when unreadable.
pub(super) fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may contain spaces; the fields after its closing parenthesis are
    // fixed: utime and stime are the 12th and 13th of them (fields 14 and 15 of `stat`).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / per_second
}

/// The machine's CPU time so far, from the `cpu` line of `/proc/stat`, in ticks: all of
/// it, and the part the host of a virtual machine took for others ("steal").
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct MachineTicks {
    all: u64,
    stolen: u64,
}

impl MachineTicks {
    pub(super) fn now() -> Self {
        Self::parse(&std::fs::read_to_string("/proc/stat").unwrap_or_default())
    }

    pub(super) fn parse(stat: &str) -> Self {
        let ticks: Vec<u64> = stat
            .lines()
            .find(|line| line.starts_with("cpu "))
            .map(|line| {
                line.split_whitespace()
                    .skip(1)
                    .filter_map(|t| t.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        // user nice system idle iowait irq softirq steal; the guest fields that follow
        // are already counted in user and nice.
        MachineTicks {
            all: ticks.iter().take(8).sum(),
            stolen: ticks.get(7).copied().unwrap_or(0),
        }
    }

    /// Cores' worth of CPU stolen since `earlier`, on a machine of `cores`.
    pub(super) fn stolen_cores_since(&self, earlier: &Self, cores: usize) -> f64 {
        let all = self.all.saturating_sub(earlier.all);
        if all == 0 {
            return 0.0;
        }
        cores as f64 * self.stolen.saturating_sub(earlier.stolen) as f64 / all as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn stolen_cpu_is_read_from_the_machine_line_of_proc_stat() {
        let before = MachineTicks::parse(
            "cpu  100 0 50 800 10 0 20 20 7 0\ncpu0 50 0 25 400 5 0 10 10 0 0\n",
        );
        assert_eq!(
            before,
            MachineTicks {
                all: 1000,
                stolen: 20
            }
        );
        let after = MachineTicks::parse("cpu  300 0 150 1300 10 0 20 220 9 0\n");
        // 1000 ticks went by, 200 of them stolen: a fifth of each of two cores.
        assert!((after.stolen_cores_since(&before, 2) - 0.4).abs() < 1e-9);
        assert_eq!(after.stolen_cores_since(&after, 2), 0.0);
        assert_eq!(MachineTicks::parse("no such line"), MachineTicks::default());
    }
}
