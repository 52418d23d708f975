import { readFileSync } from 'node:fs';

/** Resident set size of a process in MiB, from /proc (Linux). */
export function rssMib(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) / 1024;
}

/**
 * Samples a process's RSS every `everyMs` from outside it, so the measurement costs the process
 * nothing. `stop()` returns the RSS when sampling began and the highest seen.
 */
export function sampleRss(pid: number, everyMs = 10): { stop(): { beforeMib: number; peakMib: number } } {
  const beforeMib = rssMib(pid);
  let peakMib = beforeMib;
  const timer = setInterval(() => {
    try {
      peakMib = Math.max(peakMib, rssMib(pid));
    } catch {
      // The process ended; the scenario reports that on its own.
    }
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      try {
        peakMib = Math.max(peakMib, rssMib(pid));
      } catch {
        // as above
      }
      return { beforeMib, peakMib };
    },
  };
}
